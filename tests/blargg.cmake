# The blargg test-ROM suites, one CTest test per ROM, labelled "roms".
# Every ROM passes; a suite we could not pass would be listed here with WILL_FAIL and its reason.
add_executable(blargg_runner ${CMAKE_CURRENT_SOURCE_DIR}/blargg_runner.c)
target_include_directories(blargg_runner PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(blargg_runner PRIVATE smbrl_core)

# Each ROM twice: as smbrl runs it (translated code where the cart allows,
# src/nes/jit.h) and with the interpreters alone (SMBRL_JIT=0).
function(blargg_test rom protocol frames)
  string(REGEX REPLACE "[/.]" "_" name "blargg_${rom}")
  add_test(NAME ${name} COMMAND blargg_runner ${rom} ${protocol} ${frames})
  set_tests_properties(${name} PROPERTIES SKIP_RETURN_CODE 77 LABELS roms)
  add_test(NAME ${name}_interpreted COMMAND blargg_runner ${rom} ${protocol} ${frames})
  set_tests_properties(${name}_interpreted PROPERTIES SKIP_RETURN_CODE 77 LABELS roms ENVIRONMENT SMBRL_JIT=0)
endfunction()

# Status at $6000.
foreach(rom
    instr_test-v5/all_instrs.nes instr_test-v5/official_only.nes
    instr_test-v5/rom_singles/01-basics.nes instr_test-v5/rom_singles/02-implied.nes
    instr_test-v5/rom_singles/03-immediate.nes instr_test-v5/rom_singles/04-zero_page.nes
    instr_test-v5/rom_singles/05-zp_xy.nes instr_test-v5/rom_singles/06-absolute.nes
    instr_test-v5/rom_singles/07-abs_xy.nes instr_test-v5/rom_singles/08-ind_x.nes
    instr_test-v5/rom_singles/09-ind_y.nes instr_test-v5/rom_singles/10-branches.nes
    instr_test-v5/rom_singles/11-stack.nes instr_test-v5/rom_singles/12-jmp_jsr.nes
    instr_test-v5/rom_singles/13-rts.nes instr_test-v5/rom_singles/14-rti.nes
    instr_test-v5/rom_singles/15-brk.nes instr_test-v5/rom_singles/16-special.nes
    instr_misc/instr_misc.nes instr_misc/rom_singles/01-abs_x_wrap.nes
    instr_misc/rom_singles/02-branch_wrap.nes instr_misc/rom_singles/03-dummy_reads.nes
    instr_misc/rom_singles/04-dummy_reads_apu.nes
    instr_timing/instr_timing.nes instr_timing/rom_singles/1-instr_timing.nes
    instr_timing/rom_singles/2-branch_timing.nes
    cpu_interrupts_v2/cpu_interrupts.nes cpu_interrupts_v2/rom_singles/1-cli_latency.nes
    cpu_interrupts_v2/rom_singles/2-nmi_and_brk.nes cpu_interrupts_v2/rom_singles/3-nmi_and_irq.nes
    cpu_interrupts_v2/rom_singles/4-irq_and_dma.nes cpu_interrupts_v2/rom_singles/5-branch_delays_irq.nes
    ppu_vbl_nmi/ppu_vbl_nmi.nes
    ppu_vbl_nmi/rom_singles/01-vbl_basics.nes ppu_vbl_nmi/rom_singles/02-vbl_set_time.nes
    ppu_vbl_nmi/rom_singles/03-vbl_clear_time.nes ppu_vbl_nmi/rom_singles/04-nmi_control.nes
    ppu_vbl_nmi/rom_singles/05-nmi_timing.nes ppu_vbl_nmi/rom_singles/06-suppression.nes
    ppu_vbl_nmi/rom_singles/07-nmi_on_timing.nes ppu_vbl_nmi/rom_singles/08-nmi_off_timing.nes
    ppu_vbl_nmi/rom_singles/09-even_odd_frames.nes ppu_vbl_nmi/rom_singles/10-even_odd_timing.nes
    ppu_read_buffer/test_ppu_read_buffer.nes
    ppu_open_bus/ppu_open_bus.nes
    oam_read/oam_read.nes)
  blargg_test(${rom} 6000 3600)
endforeach()

# Result code at $F8.
foreach(rom
    sprite_hit_tests_2005.10.05/01.basics.nes sprite_hit_tests_2005.10.05/02.alignment.nes
    sprite_hit_tests_2005.10.05/03.corners.nes sprite_hit_tests_2005.10.05/04.flip.nes
    sprite_hit_tests_2005.10.05/05.left_clip.nes sprite_hit_tests_2005.10.05/06.right_edge.nes
    sprite_hit_tests_2005.10.05/07.screen_bottom.nes sprite_hit_tests_2005.10.05/08.double_height.nes
    sprite_hit_tests_2005.10.05/09.timing_basics.nes sprite_hit_tests_2005.10.05/10.timing_order.nes
    sprite_hit_tests_2005.10.05/11.edge_timing.nes
    sprite_overflow_tests/1.Basics.nes sprite_overflow_tests/2.Details.nes
    sprite_overflow_tests/3.Timing.nes sprite_overflow_tests/4.Obscure.nes
    sprite_overflow_tests/5.Emulator.nes
    vbl_nmi_timing/1.frame_basics.nes vbl_nmi_timing/2.vbl_timing.nes
    vbl_nmi_timing/3.even_odd_frames.nes vbl_nmi_timing/4.vbl_clear_timing.nes
    vbl_nmi_timing/5.nmi_suppression.nes vbl_nmi_timing/6.nmi_disable.nes
    vbl_nmi_timing/7.nmi_timing.nes
    branch_timing_tests/1.Branch_Basics.nes branch_timing_tests/2.Backward_Branch.nes
    branch_timing_tests/3.Forward_Branch.nes)
  blargg_test(${rom} f8 400)
endforeach()

# On screen only.
blargg_test(cpu_timing_test6/cpu_timing_test.nes screen 900)
blargg_test(cpu_dummy_reads/cpu_dummy_reads.nes screen 300)
foreach(rom palette_ram power_up_palette sprite_ram vbl_clear_time vram_access)
  blargg_test(blargg_ppu_tests_2005.09.15b/${rom}.nes screen 120)
endforeach()
