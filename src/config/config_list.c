/* Ordered name/value list backing every configuration layer (file, overrides,
 * dynamic settings). Lists are small (tens of entries), so a linear search
 * beats the bookkeeping of a hash table. */
#include "skein/config_properties.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

void sk_config_list_init(struct sk_config_list *list)
{
    list->items = NULL;
    list->n = 0;
    list->cap = 0;
}

static void entry_free(struct sk_config_entry *e)
{
    /* Owned lists allocated these strings; the const is for borrowers. */
    free((char *)e->name);
    free((char *)e->value);
}

void sk_config_list_free(struct sk_config_list *list)
{
    for (size_t i = 0; i < list->n; i++)
        entry_free(&list->items[i]);
    free(list->items);
    sk_config_list_init(list);
}

static ssize_t find(const struct sk_config_list *list, const char *name)
{
    for (size_t i = 0; i < list->n; i++)
        if (strcmp(list->items[i].name, name) == 0)
            return (ssize_t)i;
    return -1;
}

const char *sk_config_list_get(const struct sk_config_list *list, const char *name)
{
    ssize_t i = find(list, name);
    return i < 0 ? NULL : list->items[i].value;
}

static int grow(struct sk_config_list *list)
{
    if (list->n < list->cap)
        return 0;
    size_t cap = list->cap ? list->cap * 2 : 16;
    struct sk_config_entry *items = realloc(list->items, cap * sizeof *items);
    if (!items)
        return -ENOMEM;
    list->items = items;
    list->cap = cap;
    return 0;
}

int sk_config_list_set(struct sk_config_list *list, const char *name, const char *value)
{
    char *v = strdup(value);
    if (!v)
        return -ENOMEM;
    ssize_t i = find(list, name);
    if (i >= 0) {
        free((char *)list->items[i].value);
        list->items[i].value = v;
        return 0;
    }
    char *k = strdup(name);
    if (!k || grow(list) < 0) {
        free(k);
        free(v);
        return -ENOMEM;
    }
    list->items[list->n++] = (struct sk_config_entry){k, v};
    return 0;
}

int sk_config_list_unset(struct sk_config_list *list, const char *name)
{
    ssize_t i = find(list, name);
    if (i < 0)
        return 0;
    entry_free(&list->items[i]);
    memmove(&list->items[i], &list->items[i + 1],
            (list->n - (size_t)i - 1) * sizeof list->items[0]);
    list->n--;
    return 1;
}

int sk_config_list_copy(struct sk_config_list *dst, const struct sk_config_list *src)
{
    sk_config_list_init(dst);
    for (size_t i = 0; i < src->n; i++) {
        if (sk_config_list_set(dst, src->items[i].name, src->items[i].value) < 0) {
            sk_config_list_free(dst);
            return -ENOMEM;
        }
    }
    return 0;
}
