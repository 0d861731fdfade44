#!/bin/sh
# eval_cli.sh: command-line tests of `smbrl eval` and `smbrl plot`, run by CTest (see
# tests/eval.cmake). usage: eval_cli.sh CASE SMBRL MAKE_CKPT WORKDIR [CONFIGURE_TIME_ROM_DIR]
# CASE: usage, render, plot, table, record or window. Exit 0 pass, 1 fail, 77 skip.
# Checkpoints: from a short real `smbrl train` run when this build has the command (240
# steps, a dozen small learning steps: sanitizer builds learn slowly), else
# MAKE_CKPT writes freshly initialised MarioNet weights in the smbrl-dqn-1 format.
set -u
case_name=$1 smbrl=$2 make_ckpt=$3 work=$4 configured_roms=${5:-}
here=$(cd "$(dirname "$0")" && pwd)
images="python3 $here/eval_images.py"
rm -rf "$work" && mkdir -p "$work" || exit 1
failures=0

fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
run() {
    want=$1
    shift
    "$smbrl" "$@" >"$work/out" 2>"$work/err"
    got=$?
    [ "$got" -eq "$want" ] || fail "smbrl $* exited $got, expected $want; stderr: $(cat "$work/err")"
}
expect_out() { grep -qF -- "$1" "$work/out" || fail "stdout lacks '$1':$(printf '\n'; cat "$work/out")"; }
expect_err() { grep -qF -- "$1" "$work/err" || fail "stderr lacks '$1':$(printf '\n'; cat "$work/err")"; }
need_roms() {
    roms=${SMBRL_ROM_DIR:-$configured_roms}
    if [ -z "$roms" ] || [ ! -f "$roms/super-mario-bros.nes" ]; then
        echo "SKIP: SMBRL_ROM_DIR is not set or has no super-mario-bros.nes"
        exit 77
    fi
}
need_python() {
    command -v python3 >/dev/null 2>&1 || { echo "SKIP: python3 is needed to check the files"; exit 77; }
}

# A checkpoint in $work/run: a short real training run when smbrl has `train`, else fresh
# weights. Sets ckpt_kind to say which.
make_run() {
    if "$smbrl" --help 2>/dev/null | grep -q '^  train '; then
        if "$smbrl" train --rom "$roms" --task SuperMarioBros-1-1-v0 --actions simple \
               --run-dir "$work/run" --num-processes 1 --max-steps 240 --burnin 200 \
               --save-every 120 --memory-size 1000 --batch-size 8 --seed 1 --quiet \
               >"$work/train.out" 2>&1 && ls "$work/run"/*.safetensors >/dev/null 2>&1; then
            ckpt_kind="from a short smbrl train run"
            return
        fi
        echo "note: smbrl train did not give a checkpoint ($(tail -n 2 "$work/train.out")); using fresh weights"
    fi
    mkdir -p "$work/run"
    "$make_ckpt" "$work/run/model_100.safetensors" simple 7 100 || fail "eval_make_ckpt failed"
    ckpt_kind="with fresh MarioNet weights (eval_make_ckpt)"
}

case $case_name in
usage)
    run 0 eval --help
    expect_out "usage: smbrl eval"
    run 2 eval --episodes 3
    expect_err "--checkpoint PATH is required"
    run 2 eval --checkpoint x --epsilon 2
    expect_err "--epsilon must be in [0, 1]"
    run 2 eval --checkpoint x --scale 9
    run 2 eval --bogus
    expect_err "unknown flag"
    run 2 eval --checkpoint x --all-stages --record a.gif --rom /nonexistent
    expect_err "--all-stages records only with --record-dir"
    run 1 eval --checkpoint "$work/nothing-here" --rom /nonexistent
    run 0 plot --help
    expect_out "usage: smbrl plot"
    run 2 plot
    run 2 plot "$work" --bogus
    ;;
render)
    # no display (and perhaps no SDL2): fails at once, before loading anything, with exit 2
    env -u DISPLAY -u WAYLAND_DISPLAY "$smbrl" eval --render --checkpoint /nonexistent/ckpt \
        --rom /nonexistent >"$work/out" 2>"$work/err"
    got=$?
    [ "$got" -eq 2 ] || fail "eval --render without a display exited $got, expected 2"
    grep -qE "smbrl eval: --render (needs a display|needs SDL2)" "$work/err" ||
        fail "unclear message: $(cat "$work/err")"
    ;;
plot)
    need_python
    run 1 plot "$work" --text
    expect_err "metrics.jsonl"
    # two workers' episodes interleaved, interval lines, a null, wall time over minutes
    python3 - "$work/run" <<'EOF'
import json, math, os, sys
d = sys.argv[1]
os.makedirs(d, exist_ok=True)
with open(os.path.join(d, "metrics.jsonl"), "w") as f:
    for i in range(300):
        step = 200 * i + 37 * (i % 2)
        f.write(json.dumps({"step": step, "wall_time": 1.7e9 + 2.5 * i, "worker": i % 2,
                            "return": 200 + 3 * i + 50 * math.sin(i), "length": 100 + i,
                            "x_pos": 300 + 4 * i, "flag": 1 if i % 7 == 0 else 0}) + "\n")
        if i % 10 == 0:
            f.write(json.dumps({"step": step, "wall_time": 1.7e9 + 2.5 * i, "loss": 0.5 / (i + 1),
                                "q_mean": None}) + "\n")
EOF
    # the summary (no cairo needed): 14 flags in episodes 201..300, first flag in episode 1
    run 0 plot "$work/run" --text
    expect_out "300 episodes, 59837 steps, 12.5 minutes from the first log line"
    expect_out "first flag: episode 1 at step 0, 0.0 s in"
    expect_out "last 100 episodes: flag rate 0.14, mean x_pos 1298"
    expect_out "flag rate over 100 episodes never reached 0.50"
    [ ! -e "$work/run/curves.png" ] || fail "--text drew a picture"
    # a run that learns: no flag in its first 150 episodes, then every one
    python3 - "$work/learns.jsonl" <<'EOF'
import json, sys
with open(sys.argv[1], "w") as f:
    for i in range(260):
        f.write(json.dumps({"step": 100 * i, "wall_time": 1000.0 + 6 * i, "return": 1.0,
                            "x_pos": 3000 if i >= 150 else 500, "flag": int(i >= 150)}) + "\n")
EOF
    run 0 plot "$work/learns.jsonl" --text
    expect_out "first flag: episode 151 at step 15000, 15.0 minutes in"
    expect_out "flag rate over 100 episodes first reached 0.50 at episode 200, step 19900, 19.9 minutes in"
    expect_out "last 100 episodes: flag rate 1.00, mean x_pos 3000"
    run 0 plot "$work/learns.jsonl" --text --window 20
    expect_out "first reached 0.50 at episode 160, step 15900"
    if "$smbrl" plot "$work" --out "$work/x.png" 2>&1 | grep -q "needs cairo"; then
        echo "SKIP: this build has no cairo (the summary passed)"
        exit 77
    fi
    run 0 plot "$work/run" --out "$work/curves.png" --width 800 --height 600
    expect_out "300 episodes"
    read w h colours red <<EOF2
$($images png "$work/curves.png")
EOF2
    [ "${w:-0}" -eq 800 ] && [ "${h:-0}" -eq 600 ] || fail "plot is ${w}x${h}, expected 800x600"
    [ "${colours:-0}" -gt 20 ] || fail "plot has only ${colours} colours: nothing drawn?"
    [ "${red:-0}" -gt 300 ] || fail "plot has ${red} pixels of the moving-average red: no curves?"
    # the default output lands in the run directory
    run 0 plot "$work/run"
    [ -s "$work/run/curves.png" ] || fail "no $work/run/curves.png"
    ;;
table)
    need_roms
    need_python
    make_run
    echo "checkpoint $ckpt_kind"
    run 0 eval --checkpoint "$work/run" --rom "$roms" --episodes 3 --max-steps 150 --epsilon 0.1 --seed 2
    expect_out "episode    return  length  x_pos  flag  time"
    rows=$(grep -cE '^ +[0-9]+ +-?[0-9]+\.[0-9] +[0-9]+ +[0-9]+ +[01] +[0-9]+' "$work/out")
    [ "$rows" -eq 3 ] || fail "table has $rows rows, expected 3:$(printf '\n'; cat "$work/out")"
    expect_out "over 3 episode(s), flag rate"
    cp "$work/out" "$work/table.out"
    run 0 eval --checkpoint "$work/run" --rom "$roms" --episodes 3 --max-steps 150 --epsilon 0.1 --seed 2 --json
    python3 - "$work/out" "$work/table.out" <<'EOF' || fail "eval --json output is wrong"
import json, re, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
head, eps, summ = lines[0], [l for l in lines if "episode" in l and "return" in l], lines[-1]
assert "checkpoint" in head and head["frame_skip"] == 4, head
assert [e["episode"] for e in eps] == [1, 2, 3], eps
for e in eps:
    assert 1 <= e["length"] <= 150 and e["flag"] in (0, 1) and e["x_pos"] > 0, e
assert summ.get("summary") is True and summ["episodes"] == 3, summ
mean = sum(e["return"] for e in eps) / 3
assert abs(summ["mean_return"] - mean) < 1e-9, (summ, mean)
# the table shows the same episodes
rows = [l.split() for l in open(sys.argv[2]) if re.match(r"^ +[0-9]+ +-?[0-9]", l)]
assert [float(r[1]) for r in rows] == [round(e["return"], 1) for e in eps], (rows, eps)
assert [int(r[3]) for r in rows] == [e["x_pos"] for e in eps], (rows, eps)
print("json ok:", len(eps), "episodes")
EOF
    # a run directory resolves to best.safetensors, else the latest model_<step>
    mkdir -p "$work/dir"
    "$make_ckpt" "$work/dir/model_100.safetensors" simple 1 100
    "$make_ckpt" "$work/dir/model_900.safetensors" simple 2 900
    run 0 eval --checkpoint "$work/dir" --rom "$roms" --episodes 1 --max-steps 5
    expect_out "dir/model_900.safetensors (step 900"
    "$make_ckpt" "$work/dir/best.safetensors" simple 3 500
    run 0 eval --checkpoint "$work/dir" --rom "$roms" --episodes 1 --max-steps 5
    expect_out "dir/best.safetensors (step 500"
    run 0 eval --checkpoint "$work/dir" --latest --rom "$roms" --episodes 1 --max-steps 5
    expect_out "dir/model_900.safetensors"
    # a dueling checkpoint with the right-only set
    "$make_ckpt" "$work/duel.safetensors" right 4 10 dueling
    run 0 eval --checkpoint "$work/duel.safetensors" --rom "$roms" --episodes 1 --max-steps 20
    expect_out "marionet-dueling"
    # every single stage: an 8 x 4 grid
    run 0 eval --checkpoint "$work/dir" --rom "$roms" --episodes 1 --max-steps 10 --all-stages
    grid=$(grep -cE '^[1-8] +([0-9]\.[0-9]{2} / [0-9]+ *){4}$' "$work/out")
    [ "$grid" -eq 8 ] || fail "all-stages grid has $grid world rows:$(printf '\n'; cat "$work/out")"
    expect_out "flag rate over all stages"
    ;;
record)
    need_roms
    need_python
    "$make_ckpt" "$work/m.safetensors" simple 7 100 || fail "eval_make_ckpt failed"
    run 0 eval --checkpoint "$work/m.safetensors" --rom "$roms" --episodes 2 --max-steps 40 \
        --epsilon 0.3 --record "$work/first.gif" --record-dir "$work/gifs" --png "$work/png" --scale 2
    read w h frames <<EOF2
$($images gif "$work/first.gif")
EOF2
    [ "${w:-0}" -eq 512 ] && [ "${h:-0}" -eq 480 ] || fail "GIF is ${w}x${h}, expected 512x480"
    len1=$(grep -E '^ +1 ' "$work/out" | awk '{print $3}')
    [ "${frames:-0}" -eq $((len1 + 1)) ] || fail "GIF has $frames frames, episode 1 had $len1 steps"
    [ -s "$work/gifs/episode_2.gif" ] || fail "no per-episode GIF for episode 2"
    [ -s "$work/gifs/episode_1.gif" ] || fail "no per-episode GIF for episode 1"
    cmp -s "$work/first.gif" "$work/gifs/episode_1.gif" || fail "--record and --record-dir differ on episode 1"
    npng=$(ls "$work/png" | grep -c '^frame_[0-9]*\.png$')
    [ "$npng" -eq $((len1 + 1)) ] || fail "$npng PNG frames, expected $((len1 + 1))"
    read w h colours red <<EOF2
$($images png "$work/png/frame_00000.png")
EOF2
    [ "${w:-0}" -eq 512 ] && [ "${h:-0}" -eq 480 ] || fail "PNG frame is ${w}x${h}, expected 512x480"
    [ "${colours:-0}" -gt 5 ] || fail "PNG frame has only $colours colours"
    # the HUD adds its strip at NES resolution
    run 0 eval --checkpoint "$work/m.safetensors" --rom "$roms" --episodes 1 --max-steps 5 \
        --record "$work/hud.gif" --hud
    read w h frames <<EOF2
$($images gif "$work/hud.gif")
EOF2
    [ "${w:-0}" -eq 256 ] && [ "${h:-0}" -eq 251 ] || fail "HUD GIF is ${w}x${h}, expected 256x251"
    run 1 eval --checkpoint "$work/m.safetensors" --rom "$roms" --episodes 1 --max-steps 5 \
        --record "$work/no/such/dir/x.gif"
    expect_err "x.gif"
    ;;
window)
    need_roms
    need_python
    command -v Xvfb >/dev/null 2>&1 || { echo "SKIP: Xvfb is not installed (Debian: xvfb)"; exit 77; }
    command -v xwd >/dev/null 2>&1 || { echo "SKIP: xwd is not installed (Debian: x11-apps)"; exit 77; }
    if env -u DISPLAY -u WAYLAND_DISPLAY "$smbrl" eval --render --checkpoint x 2>&1 | grep -q "needs SDL2"; then
        echo "SKIP: this build has no SDL2"
        exit 77
    fi
    "$make_ckpt" "$work/m.safetensors" simple 7 100 || fail "eval_make_ckpt failed"
    # a free display number
    n=$(( $$ % 400 + 100 ))
    while [ -e "/tmp/.X11-unix/X$n" ] || [ -e "/tmp/.X$n-lock" ]; do n=$((n + 1)); done
    Xvfb ":$n" -screen 0 1024x800x24 -nolisten tcp -br >"$work/xvfb.log" 2>&1 &
    xpid=$!
    i=0
    while [ ! -e "/tmp/.X11-unix/X$n" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    if [ ! -e "/tmp/.X11-unix/X$n" ]; then
        kill "$xpid" 2>/dev/null
        echo "SKIP: Xvfb did not start: $(tail -n 3 "$work/xvfb.log")"
        exit 77
    fi
    # 200 steps at 25 per second: the window is up for 8 s
    t0=$(date +%s)
    # Leak checking is off for this one run: SDL2 dlopens X11 libraries and unloads them at
    # SDL_Quit, so their process-lifetime allocations show as leaks from "<unknown module>"
    # that no suppression can name. The same eval loop runs leak-checked in `record`.
    DISPLAY=":$n" SDL_AUDIODRIVER=dummy ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
        "$smbrl" eval --render --fps 25 --checkpoint "$work/m.safetensors" \
        --rom "$roms" --episodes 1 --max-steps 200 >"$work/out" 2>"$work/err" &
    epid=$!
    # screenshots once a second until the game shows (start-up is slow in sanitizer builds)
    sky=0 w=0 tries=0
    while [ "$tries" -lt 40 ] && kill -0 "$epid" 2>/dev/null; do
        sleep 1
        tries=$((tries + 1))
        DISPLAY=":$n" xwd -root -silent >"$work/shot.xwd" 2>"$work/xwd.err" || {
            fail "xwd failed: $(cat "$work/xwd.err")"
            break
        }
        read w h sky <<EOF2
$($images xwd "$work/shot.xwd" 104 136 252)
EOF2
        [ "${sky:-0}" -gt 300000 ] && break
    done
    wait "$epid"
    erc=$?
    t1=$(date +%s)
    kill "$xpid" 2>/dev/null
    wait "$xpid" 2>/dev/null
    [ "$erc" -eq 0 ] || fail "eval --render exited $erc: $(cat "$work/err")"
    expect_out "over 1 episode(s)"
    # --fps paces the game: 200 steps (fewer if Mario dies) take about 8 s, not a fraction of one
    steps=$(grep -E '^ +1 ' "$work/out" | awk '{print $3}')
    if [ "${steps:-0}" -ge 150 ] && [ $((t1 - t0)) -lt 5 ]; then
        fail "$steps steps at --fps 25 took $((t1 - t0)) s"
    fi
    # the sky of 1-1 (palette 0x22 = 104,136,252) fills most of the 768x720 window (about
    # 450000 of its 552960 pixels; the X root around it is black)
    [ "${w:-0}" -eq 1024 ] || fail "screenshot is ${w} wide, expected 1024"
    [ "${sky:-0}" -gt 300000 ] || fail "screenshot has ${sky:-0} sky pixels: the window is blank or missing"
    echo "screenshot: ${sky} sky-blue pixels of $((w * h))"
    ;;
*)
    echo "unknown case $case_name" >&2
    exit 1
    ;;
esac
[ "$failures" -eq 0 ] || exit 1
echo "eval_cli $case_name: ok"
