/* window.h: the SDL2 window `smbrl play` and `smbrl eval --render` show the game in:
 * the picture scaled up, a title line, keyboard state and pacing. SDL2 is optional at
 * build time (SMBRL_HAVE_SDL2); without it every call fails with a clear reason. */
#ifndef SMBRL_CLI_WINDOW_H
#define SMBRL_CLI_WINDOW_H

#include <stddef.h>
#include <stdint.h>

typedef struct win win;

/* 0 when a window can be opened at all: SDL2 is built in and DISPLAY or WAYLAND_DISPLAY
 * is set. Else -1 and a reason that reads after "<flag> " ("needs a display (...)",
 * "needs SDL2, and this build has none (...)"). Call it before any slow work. */
int win_available(char *err, size_t errlen);
/* A window showing w x h RGB pictures `scale` times larger. */
int win_open(win **out, const char *title, int w, int h, int scale, char *err, size_t errlen);
void win_close(win *x);
/* Shows one picture of the size given to win_open (w * h * 3 bytes, rows top down). */
void win_show(win *x, const uint8_t *rgb);
void win_set_title(win *x, const char *title);
/* Handles pending events; 1 once the window was closed or Escape pressed. */
int win_poll(win *x);
/* The controller byte the keyboard holds: arrows, Z = B, X = A, Enter = Start,
 * right Shift = Select; opposite directions cancel, as a pad cannot press both. */
uint8_t win_buttons(const win *x);
/* Waits until 1/fps seconds after the previous call's deadline, so a loop calling it once
 * per picture runs at fps pictures per second; a loop that fell behind starts over. */
void win_pace(win *x, double fps);

#endif
