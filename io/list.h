/* The one intrusive list of the tree (after libuv's src/queue.h): a circular
 * doubly linked list through a `struct io_list` embedded in each element,
 * with a head of the same type that is never an element. Insert and remove
 * are O(1) and never allocate; an element knows whether it is linked, so a
 * state change can assert it. Used by io (transfers, socket watches) and by
 * pipeline (jobs, hosts, the hand-off queue); pipeline may include io.
 *
 * An unlinked node points at itself: io_list_init it before first use, and
 * io_list_remove leaves it so. */
#ifndef EDGEFETCH_IO_LIST_H
#define EDGEFETCH_IO_LIST_H

#include <stdbool.h>
#include <stddef.h>

struct io_list {
    struct io_list *next;
    struct io_list *prev;
};

/* The element of type `type` whose member `member` is `node`. */
#define IO_LIST_ENTRY(node, type, member) ((type *)(void *)((char *)(node)-offsetof(type, member)))

/* Walks `head`; the body must not unlink `node`. */
#define IO_LIST_FOREACH(node, head)                                                                \
    for ((node) = (head)->next; (node) != (head); (node) = (node)->next)

/* Walks `head`; `node` may be removed (not its successor) inside the body. */
#define IO_LIST_FOREACH_SAFE(node, next_node, head)                                                \
    for ((node) = (head)->next, (next_node) = (node)->next; (node) != (head);                      \
         (node) = (next_node), (next_node) = (node)->next)

static inline void io_list_init(struct io_list *node)
{
    node->next = node;
    node->prev = node;
}

static inline bool io_list_empty(const struct io_list *head)
{
    return head->next == head;
}

/* True when `node` is in some list (false for a head with no elements). */
static inline bool io_list_linked(const struct io_list *node)
{
    return node->next != node;
}

/* Links `node` just before `at`: at the tail when `at` is the head. */
static inline void io_list_insert_before(struct io_list *at, struct io_list *node)
{
    node->next = at;
    node->prev = at->prev;
    at->prev->next = node;
    at->prev = node;
}

static inline void io_list_insert_tail(struct io_list *head, struct io_list *node)
{
    io_list_insert_before(head, node);
}

static inline void io_list_insert_head(struct io_list *head, struct io_list *node)
{
    io_list_insert_before(head->next, node);
}

static inline void io_list_remove(struct io_list *node)
{
    node->prev->next = node->next;
    node->next->prev = node->prev;
    io_list_init(node);
}

/* The first element, or NULL when empty. */
static inline struct io_list *io_list_first(const struct io_list *head)
{
    return io_list_empty(head) ? NULL : head->next;
}

/* The last element, or NULL when empty. */
static inline struct io_list *io_list_last(const struct io_list *head)
{
    return io_list_empty(head) ? NULL : head->prev;
}

/* Moves every element of `from` to the end of `to`, in order; `from` is
 * left empty. O(1). */
static inline void io_list_move_all(struct io_list *from, struct io_list *to)
{
    if (io_list_empty(from))
        return;
    struct io_list *first = from->next;
    struct io_list *last = from->prev;
    first->prev = to->prev;
    to->prev->next = first;
    last->next = to;
    to->prev = last;
    io_list_init(from);
}

/* Unlinks and returns the first element, or NULL when empty. */
static inline struct io_list *io_list_pop_first(struct io_list *head)
{
    struct io_list *node = io_list_first(head);
    if (node != NULL)
        io_list_remove(node);
    return node;
}

#endif
