// Kafka Streams word count for the end-to-end tests (itests/tests/streams_word_count.rs): lines
// from the input topic, split into words, regrouped by word (a repartition topic), counted in a
// persistent key-value store (RocksDB, backed by a compacted changelog topic) and written to the
// output topic as word -> decimal count.
//
// Run as a single-file source, no compile step:
//   java -cp 'itests/java/target/lib/*' itests/java/src/WordCount.java \
//     --bootstrap HOST:PORT --application-id ID --state-dir DIR --input TOPIC --output TOPIC \
//     [--clean-up] [--commit-interval-ms MS]
//
// Prints one machine-readable line per event on stdout, for the test to wait on:
//   STATE <new state>                          each KafkaStreams state change (RUNNING, ...)
//   RESTORED <store> <topic> <partition> <n>   a changelog partition restored, n records read
//   FAILED <exception>                         an uncaught exception; the client shuts down
//   CLOSED                                     after close() returned, on SIGTERM
// Kafka's own logging goes to stderr (slf4j-simple).

import java.time.Duration;
import java.util.Arrays;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;

import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.CloseOptions;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.processor.StateRestoreListener;
import org.apache.kafka.streams.state.KeyValueStore;

public class WordCount {
    /** The count store's name: its changelog topic is `<application id>-counts-changelog`. */
    static final String STORE = "counts";

    public static void main(String[] args) throws Exception {
        String bootstrap = null, appId = null, stateDir = null, input = null, output = null;
        boolean cleanUp = false;
        String guarantee = StreamsConfig.AT_LEAST_ONCE;
        String commitIntervalMs = "100";
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--bootstrap": bootstrap = args[++i]; break;
                case "--application-id": appId = args[++i]; break;
                case "--state-dir": stateDir = args[++i]; break;
                case "--input": input = args[++i]; break;
                case "--output": output = args[++i]; break;
                case "--clean-up": cleanUp = true; break;
                case "--exactly-once": guarantee = StreamsConfig.EXACTLY_ONCE_V2; break;
                case "--commit-interval-ms": commitIntervalMs = args[++i]; break;
                default: throw new IllegalArgumentException("unknown argument " + args[i]);
            }
        }
        if (bootstrap == null || appId == null || stateDir == null || input == null || output == null) {
            throw new IllegalArgumentException(
                "need --bootstrap, --application-id, --state-dir, --input and --output");
        }

        Properties props = new Properties();
        props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, appId);
        props.put(StreamsConfig.STATE_DIR_CONFIG, stateDir);
        props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, guarantee);
        // Commits often, so the test's committed-offset checks and restarts do not wait 30 s.
        props.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, commitIntervalMs);
        // Purges the repartition topic (DeleteRecords up to the committed offsets) every second
        // rather than every 30 s, so the tests' short runs do it too.
        props.put(StreamsConfig.REPARTITION_PURGE_INTERVAL_MS_CONFIG, "1000");
        // No record cache: every input word is one store update, one changelog record and one
        // output record, so the changelog holds many updates per key for the cleaner to compact.
        props.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, "0");
        props.put(StreamsConfig.DEFAULT_KEY_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
        props.put(StreamsConfig.DEFAULT_VALUE_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
        // Fast failure detection after a broker restart, as the test kills the broker.
        props.put(StreamsConfig.consumerPrefix("session.timeout.ms"), "10000");
        props.put(StreamsConfig.consumerPrefix("heartbeat.interval.ms"), "1000");

        StreamsBuilder builder = new StreamsBuilder();
        builder.stream(input, Consumed.with(Serdes.String(), Serdes.String()))
            .flatMapValues(line -> Arrays.asList(line.trim().split("\\s+")))
            .filter((key, word) -> !word.isEmpty())
            .groupBy((key, word) -> word, Grouped.with("by-word", Serdes.String(), Serdes.String()))
            .count(Materialized.<String, Long, KeyValueStore<Bytes, byte[]>>as(STORE)
                .withKeySerde(Serdes.String())
                .withValueSerde(Serdes.Long()))
            .toStream()
            .map((word, count) -> KeyValue.pair(word, Long.toString(count)))
            .to(output, Produced.with(Serdes.String(), Serdes.String()));

        KafkaStreams streams = new KafkaStreams(builder.build(), props);
        CountDownLatch closed = new CountDownLatch(1);
        streams.setStateListener((now, before) -> say("STATE " + now));
        streams.setGlobalStateRestoreListener(new StateRestoreListener() {
            @Override
            public void onRestoreStart(TopicPartition tp, String store, long start, long end) {}

            @Override
            public void onBatchRestored(TopicPartition tp, String store, long end, long n) {}

            @Override
            public void onRestoreEnd(TopicPartition tp, String store, long total) {
                say("RESTORED " + store + " " + tp.topic() + " " + tp.partition() + " " + total);
            }
        });
        streams.setUncaughtExceptionHandler(e -> {
            say("FAILED " + e.toString().replace('\n', ' '));
            return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            // Leaves the group (Streams stays in it by default), so the next run's rebalance
            // does not wait out this member's session timeout.
            streams.close(CloseOptions.groupMembershipOperation(
                    CloseOptions.GroupMembershipOperation.LEAVE_GROUP)
                .withTimeout(Duration.ofSeconds(30)));
            say("CLOSED");
            closed.countDown();
        }));
        if (cleanUp) {
            // Wipes this instance's local state dir, so every store is restored from its changelog.
            streams.cleanUp();
        }
        streams.start();
        closed.await();
    }

    /** One line on stdout, flushed at once: the test reads it as it happens. */
    static synchronized void say(String line) {
        System.out.println(line);
        System.out.flush();
    }
}
