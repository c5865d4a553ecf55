// A consumer-group member for the consumer-protocol tests (itests/tests/consumer_protocol_*.rs),
// run as its own OS process so a test can stop it, kill it with SIGKILL, or start another.
//
//   java -cp 'itests/java/target/lib/*' itests/java/src/GroupConsumer.java \
//     --bootstrap HOST:PORT --group ID (--topics T1,T2 | --pattern REGEX) \
//     [--protocol consumer|classic] [--assignor uniform|range] [--client-id ID]
//     [--instance-id ID]
//
// `--pattern` subscribes with a SubscriptionPattern: the broker matches the regular expression
// (RE2) against topic names, as KIP-848 has it. It reads from the earliest offset, commits
// synchronously after every poll that returned records, and prints one JSON object a line on
// stdout, the same lines the rdkafka member (itests/src/bin/consumer_member.rs) prints, each
// with "ts" too, the wall-clock time in microseconds:
//   {"event":"assigned","partitions":[["t",0],...]}   onPartitionsAssigned (the partitions added)
//   {"event":"revoked","partitions":[...]}            onPartitionsRevoked
//   {"event":"lost","partitions":[...]}               onPartitionsLost
//   {"event":"record","topic":"t","partition":0,"offset":5,"value":"v"}
//   {"event":"committed","topic":"t","partition":0,"offset":6}   the next offset, once acked
//   {"event":"member","member_id":"...","epoch":3}    the member id or epoch changed
//   {"event":"error","message":"..."}                 a poll or commit failed (it carries on)
//   {"event":"closed"}                                after close() returned
// It stops cleanly (close(): the member leaves the group) when its stdin closes.

import java.time.Duration;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.SubscriptionPattern;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.StringDeserializer;

public class GroupConsumer {
    static volatile boolean running = true;

    public static void main(String[] args) throws Exception {
        Map<String, String> opts = new HashMap<>();
        for (int i = 0; i + 1 < args.length; i += 2) {
            if (!args[i].startsWith("--")) {
                throw new IllegalArgumentException("unexpected argument " + args[i]);
            }
            opts.put(args[i].substring(2), args[i + 1]);
        }
        Properties props = new Properties();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, required(opts, "bootstrap"));
        props.put(ConsumerConfig.GROUP_ID_CONFIG, required(opts, "group"));
        props.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, opts.getOrDefault("protocol", "consumer"));
        if (opts.containsKey("assignor")) {
            props.put(ConsumerConfig.GROUP_REMOTE_ASSIGNOR_CONFIG, opts.get("assignor"));
        }
        if (opts.containsKey("client-id")) {
            props.put(ConsumerConfig.CLIENT_ID_CONFIG, opts.get("client-id"));
        }
        if (opts.containsKey("instance-id")) {
            props.put(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG, opts.get("instance-id"));
        }
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        // Records within a tenth of a second of their arrival: the tests measure gaps.
        props.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, "100");
        props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());

        KafkaConsumer<String, String> consumer = new KafkaConsumer<>(props);
        ConsumerRebalanceListener listener = new ConsumerRebalanceListener() {
            @Override
            public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
                emit("{\"event\":\"assigned\",\"partitions\":" + json(partitions) + "}");
            }

            @Override
            public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
                emit("{\"event\":\"revoked\",\"partitions\":" + json(partitions) + "}");
            }

            @Override
            public void onPartitionsLost(Collection<TopicPartition> partitions) {
                emit("{\"event\":\"lost\",\"partitions\":" + json(partitions) + "}");
            }
        };
        if (opts.containsKey("pattern")) {
            consumer.subscribe(new SubscriptionPattern(opts.get("pattern")), listener);
        } else {
            List<String> topics = Arrays.asList(required(opts, "topics").split(","));
            consumer.subscribe(topics, listener);
        }

        // The test closes stdin to ask for a clean stop.
        Thread stdin = new Thread(() -> {
            try {
                while (System.in.read() != -1) {
                }
            } catch (Exception e) {
                // Treated as closed.
            }
            running = false;
            consumer.wakeup();
        });
        stdin.setDaemon(true);
        stdin.start();

        String memberId = "";
        int epoch = Integer.MIN_VALUE;
        while (running) {
            try {
                ConsumerRecords<String, String> records = consumer.poll(Duration.ofMillis(100));
                Map<TopicPartition, Long> next = new HashMap<>();
                for (ConsumerRecord<String, String> r : records) {
                    emit("{\"event\":\"record\",\"topic\":" + quote(r.topic())
                        + ",\"partition\":" + r.partition() + ",\"offset\":" + r.offset()
                        + ",\"value\":" + quote(r.value()) + "}");
                    next.put(new TopicPartition(r.topic(), r.partition()), r.offset() + 1);
                }
                if (!next.isEmpty()) {
                    Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
                    next.forEach((tp, o) -> offsets.put(tp, new OffsetAndMetadata(o)));
                    consumer.commitSync(offsets);
                    next.forEach((tp, o) -> emit("{\"event\":\"committed\",\"topic\":"
                        + quote(tp.topic()) + ",\"partition\":" + tp.partition()
                        + ",\"offset\":" + o + "}"));
                }
                ConsumerGroupMetadata meta = consumer.groupMetadata();
                if (!meta.memberId().equals(memberId) || meta.generationId() != epoch) {
                    memberId = meta.memberId();
                    epoch = meta.generationId();
                    emit("{\"event\":\"member\",\"member_id\":" + quote(memberId)
                        + ",\"epoch\":" + epoch + "}");
                }
            } catch (WakeupException e) {
                // Asked to stop.
            } catch (Exception e) {
                emit("{\"event\":\"error\",\"message\":" + quote(e.toString()) + "}");
            }
        }
        consumer.close();
        emit("{\"event\":\"closed\"}");
    }

    static String required(Map<String, String> opts, String key) {
        String v = opts.get(key);
        if (v == null) {
            throw new IllegalArgumentException("--" + key + " is required");
        }
        return v;
    }

    /**
     * Prints `line` (a JSON object) with "ts", the wall-clock time in microseconds, first: the
     * test orders events of different processes by it.
     */
    static synchronized void emit(String line) {
        java.time.Instant now = java.time.Instant.now();
        long micros = now.getEpochSecond() * 1_000_000L + now.getNano() / 1_000;
        System.out.println("{\"ts\":" + micros + "," + line.substring(1));
        System.out.flush();
    }

    static String json(Collection<TopicPartition> partitions) {
        StringBuilder b = new StringBuilder("[");
        for (TopicPartition tp : partitions) {
            if (b.length() > 1) {
                b.append(',');
            }
            b.append('[').append(quote(tp.topic())).append(',').append(tp.partition()).append(']');
        }
        return b.append(']').toString();
    }

    static String quote(String s) {
        if (s == null) {
            return "null";
        }
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') {
                b.append('\\').append(c);
            } else if (c < 0x20) {
                b.append(String.format("\\u%04x", (int) c));
            } else {
                b.append(c);
            }
        }
        return b.append('"').toString();
    }
}
