/* Open connections per peer address, for max.connections.per.ip. Kafka's
 * ConnectionQuotas keeps one count per InetAddress; here an address is its
 * 16-byte IPv6 form (IPv4 mapped), so both families share one table. The
 * table holds only addresses with a connection open: an entry goes when its
 * count drops to zero, so a scan of many peers leaves nothing behind. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "net-int.h"
#include "skein/fnv.h"

struct sk_ip_entry {
	struct sk_ip_entry *next;
	uint8_t addr[16];
	uint32_t count;
};

static size_t hash(const uint8_t *a, size_t nbuckets)
{
	return (size_t)(sk_fnv1a(SK_FNV1A_INIT, a, 16) & (nbuckets - 1));
}

static struct sk_ip_entry **find(struct sk_ip_counts *t, const uint8_t *addr)
{
	struct sk_ip_entry **e = &t->buckets[hash(addr, t->nbuckets)];
	while (*e && memcmp((*e)->addr, addr, 16) != 0)
		e = &(*e)->next;
	return e;
}

/* Doubling when entries outnumber buckets twice keeps chains short. */
static void grow(struct sk_ip_counts *t)
{
	size_t n = t->nbuckets ? t->nbuckets * 2 : 64;
	struct sk_ip_entry **b = calloc(n, sizeof(*b));
	if (!b)
		return; /* longer chains, same answers */
	for (size_t i = 0; i < t->nbuckets; i++)
		for (struct sk_ip_entry *e = t->buckets[i], *next; e; e = next) {
			next = e->next;
			size_t h = hash(e->addr, n);
			e->next = b[h];
			b[h] = e;
		}
	free(t->buckets);
	t->buckets = b;
	t->nbuckets = n;
}

uint32_t sk_ip_count(struct sk_ip_counts *t, const uint8_t *addr)
{
	if (!t->nbuckets)
		return 0;
	struct sk_ip_entry *e = *find(t, addr);
	return e ? e->count : 0;
}

int sk_ip_count_inc(struct sk_ip_counts *t, const uint8_t *addr)
{
	if (t->nentries >= 2 * t->nbuckets)
		grow(t);
	if (!t->nbuckets)
		return -ENOMEM;
	struct sk_ip_entry **p = find(t, addr);
	if (!*p) {
		struct sk_ip_entry *e = calloc(1, sizeof(*e));
		if (!e)
			return -ENOMEM;
		memcpy(e->addr, addr, 16);
		*p = e;
		t->nentries++;
	}
	(*p)->count++;
	return 0;
}

void sk_ip_count_dec(struct sk_ip_counts *t, const uint8_t *addr)
{
	if (!t->nbuckets)
		return;
	struct sk_ip_entry **p = find(t, addr), *e = *p;
	if (!e || --e->count)
		return;
	*p = e->next;
	free(e);
	t->nentries--;
}

void sk_ip_counts_free(struct sk_ip_counts *t)
{
	for (size_t i = 0; i < t->nbuckets; i++)
		for (struct sk_ip_entry *e = t->buckets[i], *next; e; e = next) {
			next = e->next;
			free(e);
		}
	free(t->buckets);
	*t = (struct sk_ip_counts){ 0 };
}

/* An override for the address wins over max.connections.per.ip. */
uint32_t sk_ip_limit(const struct sk_shard *s, const uint8_t *addr)
{
	for (size_t i = 0; i < s->cfg.n_ip_overrides; i++)
		if (memcmp(s->cfg.ip_overrides[i].addr, addr, 16) == 0)
			return s->cfg.ip_overrides[i].max;
	return s->cfg.max_connections_per_ip;
}
