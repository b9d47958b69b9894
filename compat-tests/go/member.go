// One sarama consumer-group member for group_test.py (the protocol of
// clients/group_member.py): one JSON line per event on stdout. sarama 1.22 marks
// offsets after processing and commits them every CommitInterval and when a session
// ends (before it rejoins), which is its at-least-once pattern; it has no static
// membership. SIGTERM closes the group, which leaves it.
package main

import (
	"context"
	"encoding/json"
	"os"
	"os/signal"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/Shopify/sarama"
)

var emitMu sync.Mutex

func emitEv(ev string, kv map[string]interface{}) {
	kv["ev"] = ev
	kv["t"] = float64(time.Now().UnixNano()) / 1e9
	b, _ := json.Marshal(kv)
	emitMu.Lock()
	os.Stdout.Write(append(b, '\n'))
	emitMu.Unlock()
}

type memberHandler struct{ topic string }

func (h memberHandler) Setup(s sarama.ConsumerGroupSession) error {
	ps := append([]int32{}, s.Claims()[h.topic]...)
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	emitEv("assigned", map[string]interface{}{"parts": ps})
	return nil
}

func (h memberHandler) Cleanup(sarama.ConsumerGroupSession) error {
	emitEv("assigned", map[string]interface{}{"parts": []int32{}})
	return nil
}

func (h memberHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for m := range c.Messages() {
		emitEv("rec", map[string]interface{}{"p": m.Partition, "o": m.Offset})
		s.MarkMessage(m, "")
	}
	return nil
}

func groupMember(group, topic, instance string, sessionMs int) {
	if instance != "-" {
		emitEv("error", map[string]interface{}{"msg": "sarama 1.22 has no static membership"})
		os.Exit(2)
	}
	cfg := config()
	cfg.Consumer.Group.Session.Timeout = time.Duration(sessionMs) * time.Millisecond
	cfg.Consumer.Group.Heartbeat.Interval = 500 * time.Millisecond
	cfg.Consumer.Group.Rebalance.Strategy = sarama.BalanceStrategyRange
	cfg.Consumer.Offsets.CommitInterval = 100 * time.Millisecond
	g, err := sarama.NewConsumerGroup([]string{bootstrap}, group, cfg)
	if err != nil {
		emitEv("error", map[string]interface{}{"msg": err.Error()})
		os.Exit(1)
	}
	go func() {
		for e := range g.Errors() {
			emitEv("commit-failed", map[string]interface{}{"msg": e.Error()})
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	go func() { <-sig; cancel() }()
	for ctx.Err() == nil {
		if err := g.Consume(ctx, []string{topic}, memberHandler{topic}); err != nil {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if err := g.Close(); err != nil {
		emitEv("error", map[string]interface{}{"msg": err.Error()})
	}
	emitEv("closed", map[string]interface{}{})
}
