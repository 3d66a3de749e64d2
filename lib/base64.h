/* RFC 4648 base64, standard alphabet, padded.  Decoding is strict. */
#ifndef TAPLINE_BASE64_H
#define TAPLINE_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* Bytes that decoding n characters yields at most; encoding n bytes needs. */
#define BASE64_DECODED_MAX(n) ((n) / 4 * 3)
#define BASE64_ENCODED_LEN(n) (((n) + 2) / 3 * 4)

/*
 * Decode exactly n characters of src into dst (room for
 * BASE64_DECODED_MAX(n) bytes).  Strict: n a multiple of 4, alphabet only,
 * '=' only as one or two final pad characters, unused bits zero.  Returns
 * the number of bytes written, or -1 if src is not canonical base64.
 */
long base64_decode(uint8_t *dst, const char *src, size_t n);

/* Encode n bytes; writes BASE64_ENCODED_LEN(n) characters and a NUL. */
size_t base64_encode(char *dst, const uint8_t *src, size_t n);

#endif
