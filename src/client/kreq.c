/* Request lists of a client: waiting for the connection, or in flight. */
#include <stdlib.h>

#include "client-int.h"
#include "skein/errors.h"

void sk_kreq_push(struct sk_kreq_list *l, struct sk_kreq *r)
{
    r->next = NULL;
    if (l->tail)
        l->tail->next = r;
    else
        l->head = r;
    l->tail = r;
    l->n++;
}

struct sk_kreq *sk_kreq_pop(struct sk_kreq_list *l)
{
    struct sk_kreq *r = l->head;
    if (!r)
        return NULL;
    l->head = r->next;
    if (!l->head)
        l->tail = NULL;
    l->n--;
    return r;
}

void sk_kreq_finish(struct sk_kreq *r, int16_t err, const void *resp)
{
    sk_kclient_cb cb = r->cb;
    void *arg = r->arg;
    int16_t version = r->version;
    free(r);
    cb(arg, err, version, resp);
}

void sk_kreq_fail_all(struct sk_kreq_list *l, int16_t err)
{
    struct sk_kreq *r = l->head;
    *l = (struct sk_kreq_list){ 0 };
    while (r) {
        struct sk_kreq *next = r->next;
        sk_kreq_finish(r, err, NULL);
        r = next;
    }
}
