/* ITU-T G.711 mu-law. */
#ifndef TAPLINE_G711_H
#define TAPLINE_G711_H

#include <stddef.h>
#include <stdint.h>

#define ULAW_SILENCE 0xFF	/* the code for +0 */

extern const int16_t ulaw_to_s16[256];

static inline int16_t ulaw_decode(uint8_t u) { return ulaw_to_s16[u]; }
uint8_t ulaw_encode(int16_t s);

void ulaw_decode_buf(int16_t *dst, const uint8_t *src, size_t n);
void ulaw_encode_buf(uint8_t *dst, const int16_t *src, size_t n);

#endif
