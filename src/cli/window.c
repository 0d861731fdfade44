/* window.c: the SDL2 game window of smbrl play and smbrl eval (see window.h). */
#include "cli/window.h"

#include <stdio.h>
#include <stdlib.h>

#include "smbrl/nes.h"

#ifdef SMBRL_HAVE_SDL2
#include <SDL.h>

struct win {
    SDL_Window *window;
    SDL_Renderer *renderer;
    SDL_Texture *texture;
    int w, h, quit;
    uint64_t next; /* performance-counter time the next picture is due */
};

int win_available(char *err, size_t errlen)
{
    const char *x = getenv("DISPLAY"), *wl = getenv("WAYLAND_DISPLAY");
    if ((!x || !*x) && (!wl || !*wl)) {
        snprintf(err, errlen, "needs a display (DISPLAY and WAYLAND_DISPLAY are unset)");
        return -1;
    }
    return 0;
}

int win_open(win **out, const char *title, int w, int h, int scale, char *err, size_t errlen)
{
    *out = NULL;
    if (win_available(err, errlen) < 0)
        return -1;
    if (SDL_Init(SDL_INIT_VIDEO) != 0) {
        snprintf(err, errlen, "cannot open a window: %s", SDL_GetError());
        return -1;
    }
    win *x = calloc(1, sizeof *x);
    if (!x) {
        snprintf(err, errlen, "out of memory");
        SDL_Quit();
        return -1;
    }
    x->w = w;
    x->h = h;
    x->window = SDL_CreateWindow(title, SDL_WINDOWPOS_CENTERED, SDL_WINDOWPOS_CENTERED, w * scale,
                                 h * scale, 0);
    if (x->window) {
        x->renderer = SDL_CreateRenderer(x->window, -1, 0);
        if (!x->renderer) /* no GPU (a virtual X server): draw in software */
            x->renderer = SDL_CreateRenderer(x->window, -1, SDL_RENDERER_SOFTWARE);
    }
    if (x->renderer)
        x->texture = SDL_CreateTexture(x->renderer, SDL_PIXELFORMAT_RGB24,
                                       SDL_TEXTUREACCESS_STREAMING, w, h);
    if (!x->texture) {
        snprintf(err, errlen, "cannot open a window: %s", SDL_GetError());
        win_close(x);
        return -1;
    }
    *out = x;
    return 0;
}

void win_close(win *x)
{
    if (!x)
        return;
    if (x->texture)
        SDL_DestroyTexture(x->texture);
    if (x->renderer)
        SDL_DestroyRenderer(x->renderer);
    if (x->window)
        SDL_DestroyWindow(x->window);
    free(x);
    SDL_Quit();
}

void win_show(win *x, const uint8_t *rgb)
{
    SDL_UpdateTexture(x->texture, NULL, rgb, x->w * 3);
    SDL_RenderClear(x->renderer);
    SDL_RenderCopy(x->renderer, x->texture, NULL, NULL);
    SDL_RenderPresent(x->renderer);
}

void win_set_title(win *x, const char *title) { SDL_SetWindowTitle(x->window, title); }

int win_poll(win *x)
{
    SDL_Event ev;
    while (SDL_PollEvent(&ev))
        if (ev.type == SDL_QUIT || (ev.type == SDL_KEYDOWN && ev.key.keysym.sym == SDLK_ESCAPE))
            x->quit = 1;
    return x->quit;
}

uint8_t win_buttons(const win *x)
{
    (void)x;
    const uint8_t *k = SDL_GetKeyboardState(NULL);
    uint8_t b = 0;
    if (k[SDL_SCANCODE_X]) b |= NES_A;
    if (k[SDL_SCANCODE_Z]) b |= NES_B;
    if (k[SDL_SCANCODE_RSHIFT]) b |= NES_SELECT;
    if (k[SDL_SCANCODE_RETURN]) b |= NES_START;
    if (k[SDL_SCANCODE_UP]) b |= NES_UP;
    if (k[SDL_SCANCODE_DOWN]) b |= NES_DOWN;
    if (k[SDL_SCANCODE_LEFT]) b |= NES_LEFT;
    if (k[SDL_SCANCODE_RIGHT]) b |= NES_RIGHT;
    if ((b & (NES_LEFT | NES_RIGHT)) == (NES_LEFT | NES_RIGHT))
        b &= (uint8_t)~(NES_LEFT | NES_RIGHT);
    if ((b & (NES_UP | NES_DOWN)) == (NES_UP | NES_DOWN))
        b &= (uint8_t)~(NES_UP | NES_DOWN);
    return b;
}

void win_pace(win *x, double fps)
{
    if (fps <= 0.0)
        return;
    uint64_t freq = SDL_GetPerformanceFrequency(), now = SDL_GetPerformanceCounter();
    uint64_t period = (uint64_t)((double)freq / fps);
    if (x->next == 0 || now > x->next + period)
        x->next = now; /* first picture, or too far behind to catch up */
    x->next += period;
    if (now < x->next) {
        uint32_t ms = (uint32_t)((x->next - now) * 1000 / freq);
        if (ms > 0)
            SDL_Delay(ms);
    }
}

#else /* no SDL2 in this build */

struct win {
    int unused;
};

int win_available(char *err, size_t errlen)
{
    snprintf(err, errlen, "needs SDL2, and this build has none (install libsdl2-dev and rebuild)");
    return -1;
}

int win_open(win **out, const char *title, int w, int h, int scale, char *err, size_t errlen)
{
    (void)title, (void)w, (void)h, (void)scale;
    *out = NULL;
    return win_available(err, errlen);
}

void win_close(win *x) { (void)x; }
void win_show(win *x, const uint8_t *rgb) { (void)x, (void)rgb; }
void win_set_title(win *x, const char *title) { (void)x, (void)title; }
int win_poll(win *x) { (void)x; return 1; }
uint8_t win_buttons(const win *x) { (void)x; return 0; }
void win_pace(win *x, double fps) { (void)x, (void)fps; }

#endif
