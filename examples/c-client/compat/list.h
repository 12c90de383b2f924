/* The list container quicktype's C (cJSON) output uses for JSON arrays: a minimal implementation of our own
 * of the calls the generated code makes (list_create, list_add_tail, list_get_head, list_get_next,
 * list_release). Elements are stored as the pointers given (the generated code owns and frees them). */
#ifndef JOSEV_COMPAT_LIST_H
#define JOSEV_COMPAT_LIST_H

#include <stdbool.h>
#include <stdlib.h>

typedef struct list_node {
    void *e;
    struct list_node *next;
} list_node_t;

typedef struct list {
    list_node_t *head, *tail, *cursor;
} list_t;

static inline list_t *list_create(bool thread_safe, void *unused) {
    (void)thread_safe;
    (void)unused;
    return calloc(1, sizeof(list_t));
}

static inline int list_add_tail(list_t *l, void *e, size_t size) {
    (void)size;
    list_node_t *n = calloc(1, sizeof *n);
    if (l == NULL || n == NULL) {
        free(n);
        return -1;
    }
    n->e = e;
    if (l->tail) l->tail->next = n; else l->head = n;
    l->tail = n;
    return 0;
}

static inline void *list_get_head(list_t *l) {
    if (l == NULL) return NULL;
    l->cursor = l->head;
    return l->cursor ? l->cursor->e : NULL;
}

static inline void *list_get_next(list_t *l) {
    if (l == NULL || l->cursor == NULL) return NULL;
    l->cursor = l->cursor->next;
    return l->cursor ? l->cursor->e : NULL;
}

static inline void list_release(list_t *l) {
    if (l == NULL) return;
    for (list_node_t *n = l->head; n != NULL;) {
        list_node_t *next = n->next;
        free(n);
        n = next;
    }
    free(l);
}

#endif
