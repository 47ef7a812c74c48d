/* Tiny assertion helpers for the unit tests: on failure they print both sides,
 * the expression and the location, then abort (so sanitizers and meson see a
 * failure). After libuv's test/task.h. */
#ifndef EDGEFETCH_CHECK_H
#define EDGEFETCH_CHECK_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* With CHECK_COUNT set in the environment, the number of checks run is printed
 * at exit: tests/count_checks.py sums it, so that cases turned into a table are
 * seen to run as many checks as the copies they replace. Atomic: workers check. */
static unsigned long long check_count_;

__attribute__((destructor)) static void check_count_report_(void)
{
    if (getenv("CHECK_COUNT") != NULL)
        fprintf(stderr, "checks executed: %llu\n", check_count_);
}

#define CHECK_COUNTED_() __atomic_fetch_add(&check_count_, 1, __ATOMIC_RELAXED)

#define CHECK(expr)                                                                                \
    do {                                                                                           \
        CHECK_COUNTED_();                                                                          \
        if (!(expr)) {                                                                             \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #expr);               \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define CHECK_INT_OP(a, op, b)                                                                     \
    do {                                                                                           \
        CHECK_COUNTED_();                                                                          \
        long long check_a_ = (long long)(a);                                                       \
        long long check_b_ = (long long)(b);                                                       \
        if (!(check_a_ op check_b_)) {                                                             \
            fprintf(stderr, "%s:%d: CHECK(%s %s %s) failed: %lld vs %lld\n", __FILE__, __LINE__,   \
                    #a, #op, #b, check_a_, check_b_);                                              \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define CHECK_EQ(a, b) CHECK_INT_OP(a, ==, b)
#define CHECK_NE(a, b) CHECK_INT_OP(a, !=, b)
#define CHECK_LT(a, b) CHECK_INT_OP(a, <, b)
#define CHECK_LE(a, b) CHECK_INT_OP(a, <=, b)
#define CHECK_GT(a, b) CHECK_INT_OP(a, >, b)
#define CHECK_GE(a, b) CHECK_INT_OP(a, >=, b)

#define CHECK_STR_EQ(a, b)                                                                         \
    do {                                                                                           \
        CHECK_COUNTED_();                                                                          \
        const char *check_sa_ = (a);                                                               \
        const char *check_sb_ = (b);                                                               \
        if (check_sa_ == NULL || check_sb_ == NULL || strcmp(check_sa_, check_sb_) != 0) {         \
            fprintf(stderr, "%s:%d: CHECK_STR_EQ(%s, %s) failed: \"%s\" vs \"%s\"\n", __FILE__,    \
                    __LINE__, #a, #b, check_sa_ ? check_sa_ : "(null)",                            \
                    check_sb_ ? check_sb_ : "(null)");                                             \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define CHECK_MEM_EQ(a, b, len)                                                                    \
    do {                                                                                           \
        CHECK_COUNTED_();                                                                          \
        const unsigned char *check_ma_ = (const unsigned char *)(a);                               \
        const unsigned char *check_mb_ = (const unsigned char *)(b);                               \
        size_t check_len_ = (len);                                                                 \
        for (size_t check_i_ = 0; check_i_ < check_len_; check_i_++) {                             \
            if (check_ma_[check_i_] != check_mb_[check_i_]) {                                      \
                fprintf(stderr, "%s:%d: CHECK_MEM_EQ(%s, %s) differs at byte %zu: %u vs %u\n",     \
                        __FILE__, __LINE__, #a, #b, check_i_, check_ma_[check_i_],                 \
                        check_mb_[check_i_]);                                                      \
                abort();                                                                           \
            }                                                                                      \
        }                                                                                          \
    } while (0)

#endif
