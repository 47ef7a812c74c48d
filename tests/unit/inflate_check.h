/* Checks a raw deflate stream against the bytes it must give, with zlib
 * (a reference decoder that is not ours), for the PNG encoder's tests. Needs
 * check.h, zlib.h and stdlib.h included before it. */
#ifndef EDGEFETCH_INFLATE_CHECK_H
#define EDGEFETCH_INFLATE_CHECK_H

/* Raw-inflates `size` bytes and checks they give want[0, want_size) and
 * end the stream. */
static inline void check_inflates(const uint8_t *deflated, size_t size, const uint8_t *want,
                                  size_t want_size)
{
    uint8_t *got = malloc(want_size + 1);
    CHECK(got != NULL);
    z_stream strm = {0};
    CHECK_EQ(inflateInit2(&strm, -15), Z_OK);
    strm.next_in = (Bytef *)deflated;
    strm.avail_in = (uInt)size;
    strm.next_out = got;
    strm.avail_out = (uInt)(want_size + 1);
    CHECK_EQ(inflate(&strm, Z_FINISH), Z_STREAM_END);
    CHECK_EQ(strm.total_out, want_size);
    CHECK_EQ(strm.avail_in, 0);
    CHECK_MEM_EQ(got, want, want_size);
    inflateEnd(&strm);
    free(got);
}

#endif
