/* Provided-buffer ring: the kernel picks a receive buffer per completion, so
 * idle connections pin no memory. liburing 2.3 has no io_uring_setup_buf_ring,
 * hence the mmap + register by hand. */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "net-int.h"

#define SK_BGID 0

int sk_bufring_init(struct sk_shard *s)
{
	unsigned n = s->cfg.recv_buf_count;
	s->br_bytes = n * sizeof(struct io_uring_buf);
	void *br = mmap(NULL, s->br_bytes, PROT_READ | PROT_WRITE,
			MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (br == MAP_FAILED)
		return -errno;
	s->br = br;
	s->bufs = malloc((size_t)n * s->cfg.recv_buf_size);
	if (!s->bufs)
		return -ENOMEM;
	struct io_uring_buf_reg reg = {
		.ring_addr = (unsigned long)br, .ring_entries = n, .bgid = SK_BGID,
	};
	int rc = io_uring_register_buf_ring(&s->ring, &reg, 0);
	if (rc < 0)
		return rc;
	io_uring_buf_ring_init(s->br);
	for (unsigned i = 0; i < n; i++)
		io_uring_buf_ring_add(s->br, s->bufs + (size_t)i * s->cfg.recv_buf_size,
				      s->cfg.recv_buf_size, i, io_uring_buf_ring_mask(n), i);
	io_uring_buf_ring_advance(s->br, n);
	return 0;
}

/* Called after io_uring_queue_exit, which drops the registration. */
void sk_bufring_fini(struct sk_shard *s)
{
	if (s->br)
		munmap(s->br, s->br_bytes);
	free(s->bufs);
}

const uint8_t *sk_bufring_addr(struct sk_shard *s, unsigned bid)
{
	return s->bufs + (size_t)bid * s->cfg.recv_buf_size;
}

/* Bytes are always copied out before this, so a buffer goes straight back. */
void sk_bufring_recycle(struct sk_shard *s, unsigned bid)
{
	unsigned n = s->cfg.recv_buf_count;
	io_uring_buf_ring_add(s->br, s->bufs + (size_t)bid * s->cfg.recv_buf_size,
			      s->cfg.recv_buf_size, bid, io_uring_buf_ring_mask(n), 0);
	io_uring_buf_ring_advance(s->br, 1);
}
