// The benchmark's transactions row with the Java producer (itests/src/bench/txn.rs): back-to-back
// transactions of --records records of --record-bytes bytes, partition i % --partitions, each
// begun, sent and committed, the first --warmup of them untimed (the coordinator lookup, the
// JIT). Each value starts with the send time in nanoseconds since --base-epoch-ns (big-endian
// u64) and a sequence number (big-endian u64; all ones for the warm-up), as the rdkafka
// producer of the row stamps them, so the row's read_committed reader measures either.
//
// Prints on stdout `TIMED <transactions> <nanoseconds>` once the timed transactions are
// committed; exits non-zero on any error.

import java.nio.ByteBuffer;
import java.time.Instant;
import java.util.Properties;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public class TxnBench {
    public static void main(String[] args) throws Exception {
        String bootstrap = null, topic = null, txnId = "bench-txn-java";
        int partitions = 3, records = 100, recordBytes = 1024, warmup = 1;
        long transactions = 0, baseEpochNs = 0;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--bootstrap": bootstrap = args[++i]; break;
                case "--topic": topic = args[++i]; break;
                case "--transactional-id": txnId = args[++i]; break;
                case "--partitions": partitions = Integer.parseInt(args[++i]); break;
                case "--records": records = Integer.parseInt(args[++i]); break;
                case "--record-bytes": recordBytes = Integer.parseInt(args[++i]); break;
                case "--warmup": warmup = Integer.parseInt(args[++i]); break;
                case "--transactions": transactions = Long.parseLong(args[++i]); break;
                case "--base-epoch-ns": baseEpochNs = Long.parseLong(args[++i]); break;
                default: throw new IllegalArgumentException("unknown argument " + args[i]);
            }
        }
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, txnId);
        // As the rdkafka producer of the row.
        p.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        p.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, "none");
        try (KafkaProducer<byte[], byte[]> producer =
                 new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer())) {
            producer.initTransactions();
            for (int w = 0; w < warmup; w++) {
                one(producer, topic, partitions, records, recordBytes, baseEpochNs, -1);
            }
            long started = System.nanoTime();
            for (long t = 0; t < transactions; t++) {
                one(producer, topic, partitions, records, recordBytes, baseEpochNs, t);
            }
            long elapsed = System.nanoTime() - started;
            System.out.println("TIMED " + transactions + " " + elapsed);
        }
    }

    // One transaction; seq -1 for a warm-up one.
    static void one(KafkaProducer<byte[], byte[]> producer, String topic, int partitions,
                    int records, int recordBytes, long baseEpochNs, long seq) {
        producer.beginTransaction();
        for (int i = 0; i < records; i++) {
            byte[] value = new byte[recordBytes];
            Instant now = Instant.now();
            long sent = now.getEpochSecond() * 1_000_000_000L + now.getNano() - baseEpochNs;
            long n = seq < 0 ? -1L : seq * records + i;
            ByteBuffer.wrap(value).putLong(sent).putLong(n);
            producer.send(new ProducerRecord<>(topic, i % partitions, null, value));
        }
        producer.commitTransaction();
    }
}
