"""A group's committed offsets as a client sees them (confluent-kafka)."""


def committed_offsets(bootstrap, group, topic, partitions, extra=None):
    """{partition: offset} of the group's commits, or None while no
    coordinator answers (loading, moving, not yet registered)."""
    from confluent_kafka import Consumer, KafkaException, TopicPartition
    conf = {"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False}
    conf.update(extra or {})
    c = Consumer(conf)
    try:
        tps = c.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
        return {tp.partition: tp.offset for tp in tps if not tp.error}
    except KafkaException:
        return None
    finally:
        c.close()
