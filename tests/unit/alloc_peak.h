/* Counts the heap bytes a test binary holds, and their peak, for the memory
 * tests of the decoders and the per-item estimate. Include it in exactly one
 * source file of a test executable.
 *
 * Every allocation counts, ours and the libraries' (libpng, libjpeg, zlib
 * call malloc themselves): a plain build replaces malloc and its family in
 * the executable (found before libc's by the dynamic linker) with glibc's
 * __libc_* functions plus counting; an ASan build cannot replace them (its
 * own allocator must see every block), so it counts through the
 * sanitizer's allocation hooks instead. Sizes are what was asked for
 * (malloc_usable_size / __sanitizer_get_allocated_size of the block). */
#ifndef EDGEFETCH_ALLOC_PEAK_H
#define EDGEFETCH_ALLOC_PEAK_H

#include <stdatomic.h>
#include <stddef.h>

static atomic_size_t alloc_live;
static atomic_size_t alloc_peak;
static atomic_size_t alloc_total; /* every byte ever allocated: work redone shows here */

static void alloc_note_added(size_t size)
{
    atomic_fetch_add(&alloc_total, size);
    size_t live = atomic_fetch_add(&alloc_live, size) + size;
    size_t peak = atomic_load(&alloc_peak);
    while (live > peak && !atomic_compare_exchange_weak(&alloc_peak, &peak, live)) {
    }
}

static void alloc_note_removed(size_t size)
{
    atomic_fetch_sub(&alloc_live, size);
}

/* Starts a measurement: the peak from now on, over what is live now. */
static size_t alloc_peak_reset(void)
{
    size_t live = atomic_load(&alloc_live);
    atomic_store(&alloc_peak, live);
    return live;
}

/* The peak since alloc_peak_reset, less what was live then. */
static size_t alloc_peak_since(size_t base)
{
    size_t peak = atomic_load(&alloc_peak);
    return peak > base ? peak - base : 0;
}

#if defined(__SANITIZE_ADDRESS__)
/* From compiler-rt's sanitizer/allocator_interface.h, which GCC does not
 * install; libasan exports them. */
int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void *, size_t),
                                              void (*free_hook)(const volatile void *));
size_t __sanitizer_get_allocated_size(const volatile void *ptr);

static void on_alloc_hook(const volatile void *ptr, size_t size)
{
    (void)ptr;
    alloc_note_added(size);
}

static void on_free_hook(const volatile void *ptr)
{
    if (ptr != NULL)
        alloc_note_removed(__sanitizer_get_allocated_size(ptr));
}

__attribute__((constructor)) static void alloc_peak_install(void)
{
    __sanitizer_install_malloc_and_free_hooks(on_alloc_hook, on_free_hook);
}
#else
#include <errno.h>
#include <malloc.h>
#include <string.h>

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *ptr, size_t size);
extern void __libc_free(void *ptr);
extern void *__libc_memalign(size_t alignment, size_t size);

void *malloc(size_t size)
{
    void *ptr = __libc_malloc(size);
    if (ptr != NULL)
        alloc_note_added(malloc_usable_size(ptr));
    return ptr;
}

void *calloc(size_t count, size_t size)
{
    void *ptr = __libc_calloc(count, size);
    if (ptr != NULL)
        alloc_note_added(malloc_usable_size(ptr));
    return ptr;
}

void free(void *ptr)
{
    if (ptr == NULL)
        return;
    alloc_note_removed(malloc_usable_size(ptr));
    __libc_free(ptr);
}

void *realloc(void *ptr, size_t size)
{
    size_t before = ptr != NULL ? malloc_usable_size(ptr) : 0;
    void *grown = __libc_realloc(ptr, size);
    if (grown == NULL) {
        if (size == 0 && ptr != NULL)
            alloc_note_removed(before); /* realloc(p, 0) freed it */
        return NULL;
    }
    /* In place, the block only changed size; moved, old and new were both
     * live for a moment. */
    size_t after = malloc_usable_size(grown);
    if (grown == ptr && after <= before) {
        alloc_note_removed(before - after);
    } else if (grown == ptr) {
        alloc_note_added(after - before);
    } else {
        alloc_note_added(after);
        alloc_note_removed(before);
    }
    return grown;
}

void *memalign(size_t alignment, size_t size)
{
    void *ptr = __libc_memalign(alignment, size);
    if (ptr != NULL)
        alloc_note_added(malloc_usable_size(ptr));
    return ptr;
}

void *aligned_alloc(size_t alignment, size_t size)
{
    return memalign(alignment, size);
}

int posix_memalign(void **out, size_t alignment, size_t size)
{
    void *ptr = memalign(alignment, size);
    if (ptr == NULL)
        return ENOMEM;
    *out = ptr;
    return 0;
}
#endif

#endif
