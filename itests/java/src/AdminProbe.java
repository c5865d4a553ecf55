// Calls every Admin method a UI or a tool uses against one broker and prints, one line per call,
// a normalized shape of the answer (ids, ports, paths, sizes and times replaced by what they
// must be, not their values) or the exception it failed with. The itest
// `itests/tests/admin_probe.rs` runs it against Gregor and against Apache Kafka 4.4 and compares
// the lines with `itests/fixtures/admin_probe.kafka.txt`, recorded from Kafka.
//
// Run: java -cp 'itests/java/target/lib/*' itests/java/src/AdminProbe.java BOOTSTRAP

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.stream.Collectors;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.ConsumerGroupListing;
import org.apache.kafka.clients.admin.DescribeReplicaLogDirsResult.ReplicaLogDirInfo;
import org.apache.kafka.clients.admin.FeatureMetadata;
import org.apache.kafka.clients.admin.FinalizedVersionRange;
import org.apache.kafka.clients.admin.ListOffsetsResult;
import org.apache.kafka.clients.admin.LogDirDescription;
import org.apache.kafka.clients.admin.NewPartitionReassignment;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.ProducerState;
import org.apache.kafka.clients.admin.QuorumInfo;
import org.apache.kafka.clients.admin.RecordsToDelete;
import org.apache.kafka.clients.admin.ReplicaInfo;
import org.apache.kafka.clients.admin.SupportedVersionRange;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.ElectionType;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicCollection;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclBindingFilter;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.quota.ClientQuotaFilter;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourceType;
import org.apache.kafka.common.serialization.StringSerializer;

public class AdminProbe {
    static final String TOPIC = "probe";
    static final String COMPACT = "probe-compact";
    static final String GROUP = "probe-group";
    static final TopicPartition P0 = new TopicPartition(TOPIC, 0);
    static final TopicPartition P1 = new TopicPartition(TOPIC, 1);

    interface Call {
        Object run() throws Exception;
    }

    /** Prints `name: shape`, or `name: ! ExceptionClass: message` when the call failed. */
    static void probe(String name, Call call) {
        long started = System.nanoTime();
        String line;
        try {
            line = String.valueOf(call.run());
        } catch (Throwable t) {
            line = failure(t);
        }
        System.out.println(name + ": " + line);
        System.out.flush();
        System.err.println("took " + (System.nanoTime() - started) / 1_000_000 + " ms: " + name);
    }

    static String failure(Throwable t) {
        while ((t instanceof ExecutionException || t instanceof java.util.concurrent.CompletionException)
                && t.getCause() != null) {
            t = t.getCause();
        }
        return "! " + t.getClass().getSimpleName() + ": " + t.getMessage();
    }

    /** A map's entries sorted by key, each value shaped by `shape`. */
    static <K, V> String sorted(Map<K, V> map, Function<V, Object> shape) {
        TreeMap<String, Object> out = new TreeMap<>();
        map.forEach((k, v) -> out.put(String.valueOf(k), shape.apply(v)));
        return out.toString();
    }

    static String node(Node n, int self) {
        return n == null ? "null" : n.id() == self ? "self" : "node" + n.id();
    }

    /** Null (Metadata has no ELR fields; DescribeTopicPartitions has) or the nodes. */
    static String nodes(List<Node> nodes, int self) {
        return nodes == null ? "null" : nodes.stream().map(n -> node(n, self)).toList().toString();
    }

    static String partitions(TopicDescription d, int self) {
        List<String> out = new ArrayList<>();
        for (TopicPartitionInfo p : d.partitions()) {
            out.add(p.partition() + " leader=" + node(p.leader(), self)
                    + " replicas=" + p.replicas().stream().map(n -> node(n, self)).toList()
                    + " isr=" + p.isr().stream().map(n -> node(n, self)).toList()
                    + " elr=" + nodes(p.elr(), self) + " lastKnownElr=" + nodes(p.lastKnownElr(), self));
        }
        return d.name() + " internal=" + d.isInternal() + " id=" + (d.topicId() == null || d.topicId() == Uuid.ZERO_UUID ? "none" : "set")
                + " ops=" + (d.authorizedOperations() == null ? "null" : new TreeSet<>(d.authorizedOperations()))
                + " " + out;
    }

    static String entry(ConfigEntry e) {
        if (e == null) {
            return "absent";
        }
        return e.value() + " " + e.source() + (e.isReadOnly() ? " ro" : "") + (e.isSensitive() ? " sensitive" : "");
    }

    /** Retries `call` while the broker has not caught up with a change (Kafka propagates
     * metadata asynchronously); prints nothing. */
    static <T> T eventually(Call call) throws Exception {
        Throwable last = null;
        for (int i = 0; i < 100; i++) {
            try {
                @SuppressWarnings("unchecked")
                T t = (T) call.run();
                return t;
            } catch (Throwable t) {
                last = t;
                Thread.sleep(100);
            }
        }
        throw new RuntimeException("never succeeded: " + failure(last));
    }

    public static void main(String[] args) throws Exception {
        String bootstrap = args[0];
        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "10000");
        props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "15000");
        try (Admin admin = Admin.create(props)) {
            run(admin, bootstrap);
        }
    }

    static void run(Admin admin, String bootstrap) throws Exception {
        int self = admin.describeCluster().controller().get().id();

        probe("createTopics", () -> {
            admin.createTopics(List.of(
                    new NewTopic(TOPIC, 2, (short) 1),
                    new NewTopic(COMPACT, 1, (short) 1).configs(Map.of("cleanup.policy", "compact"))))
                    .all().get();
            return "ok";
        });
        // Kafka's broker learns of new topics from its controller a moment later.
        long started = System.nanoTime();
        eventually(() -> admin.describeTopics(List.of(TOPIC, COMPACT)).allTopicNames().get());
        produce(bootstrap);
        System.err.println("took " + (System.nanoTime() - started) / 1_000_000 + " ms: produce");

        probe("describeCluster", () -> {
            var r = admin.describeCluster(new org.apache.kafka.clients.admin.DescribeClusterOptions()
                    .includeAuthorizedOperations(true));
            return "nodes=" + r.nodes().get().stream().map(n -> node(n, self)).toList()
                    + " controller=" + node(r.controller().get(), self)
                    + " clusterId=" + (r.clusterId().get() == null ? "null" : "set")
                    + " ops=" + new TreeSet<>(r.authorizedOperations().get());
        });
        probe("describeTopics.byName", () -> sorted(
                admin.describeTopics(List.of(TOPIC, COMPACT)).allTopicNames().get(), d -> partitions(d, self)));
        probe("describeTopics.byName.authorizedOperations", () -> sorted(
                admin.describeTopics(List.of(TOPIC), new org.apache.kafka.clients.admin.DescribeTopicsOptions()
                        .includeAuthorizedOperations(true)).allTopicNames().get(), d -> partitions(d, self)));
        probe("describeTopics.byName.unknown", () -> admin.describeTopics(List.of("no-such-topic")).allTopicNames().get());
        probe("describeTopics.byName.paged", () -> sorted(
                admin.describeTopics(List.of(TOPIC, COMPACT), new org.apache.kafka.clients.admin.DescribeTopicsOptions()
                        .partitionSizeLimitPerResponse(1)).allTopicNames().get(), d -> partitions(d, self)));
        probe("describeTopics.byId", () -> {
            Uuid id = admin.describeTopics(List.of(TOPIC)).allTopicNames().get().get(TOPIC).topicId();
            return admin.describeTopics(TopicCollection.ofTopicIds(List.of(id))).allTopicIds().get()
                    .values().stream().map(d -> partitions(d, self)).toList();
        });
        probe("describeTopics.byId.unknown", () -> admin.describeTopics(
                TopicCollection.ofTopicIds(List.of(new Uuid(1, 2)))).allTopicIds().get());

        probe("alterConsumerGroupOffsets", () -> {
            admin.alterConsumerGroupOffsets(GROUP, Map.of(P0, new OffsetAndMetadata(3), P1, new OffsetAndMetadata(1)))
                    .all().get();
            return "ok";
        });
        probe("listConsumerGroups", () -> {
            Collection<ConsumerGroupListing> all = admin.listConsumerGroups().all().get();
            return all.stream().filter(g -> g.groupId().equals(GROUP))
                    .map(g -> g.groupId() + " state=" + g.groupState().orElse(null) + " type=" + g.type().orElse(null)
                            + " simple=" + g.isSimpleConsumerGroup())
                    .toList();
        });
        probe("describeConsumerGroups", () -> sorted(admin.describeConsumerGroups(List.of(GROUP)).all().get(),
                (ConsumerGroupDescription d) -> "state=" + d.groupState() + " type=" + d.type() + " members=" + d.members().size()
                        + " assignor=" + d.partitionAssignor() + " simple=" + d.isSimpleConsumerGroup()
                        + " coordinator=" + node(d.coordinator(), self)));
        probe("listConsumerGroupOffsets", () -> sorted(
                admin.listConsumerGroupOffsets(GROUP).partitionsToOffsetAndMetadata().get(), o -> o.offset()));
        probe("deleteConsumerGroupOffsets", () -> {
            admin.deleteConsumerGroupOffsets(GROUP, Set.of(P1)).all().get();
            return sorted(admin.listConsumerGroupOffsets(GROUP).partitionsToOffsetAndMetadata().get(), o -> o.offset());
        });

        probe("listOffsets", () -> offsets(admin));
        probe("describeProducers", () -> producers(admin));
        probe("deleteRecords", () -> sorted(admin.deleteRecords(Map.of(
                P0, RecordsToDelete.beforeOffset(5),
                P1, RecordsToDelete.beforeOffset(-1))).lowWatermarks(),
                f -> {
                    try {
                        return f.get().lowWatermark();
                    } catch (Exception e) {
                        return failure(e);
                    }
                }));
        probe("deleteRecords.again.lower", () -> admin.deleteRecords(Map.of(P0, RecordsToDelete.beforeOffset(2)))
                .lowWatermarks().get(P0).get().lowWatermark());
        probe("deleteRecords.beyondHighWatermark", () -> admin.deleteRecords(Map.of(P0, RecordsToDelete.beforeOffset(100)))
                .all().get());
        probe("deleteRecords.compacted", () -> admin.deleteRecords(
                Map.of(new TopicPartition(COMPACT, 0), RecordsToDelete.beforeOffset(1))).all().get());
        probe("deleteRecords.internal", () -> admin.deleteRecords(
                Map.of(new TopicPartition("__consumer_offsets", 0), RecordsToDelete.beforeOffset(0))).all().get());
        probe("listOffsets.afterDelete", () -> offsets(admin));

        probe("describeLogDirs", () -> sorted(admin.describeLogDirs(List.of(self)).allDescriptions().get(),
                (Map<String, LogDirDescription> dirs) -> dirs.values().stream().map(AdminProbe::logDir).toList()));
        probe("describeReplicaLogDirs", () -> sorted(admin.describeReplicaLogDirs(List.of(
                        new org.apache.kafka.common.TopicPartitionReplica(TOPIC, 0, self),
                        new org.apache.kafka.common.TopicPartitionReplica(TOPIC, 7, self))).all().get(),
                (ReplicaLogDirInfo i) -> "current=" + (i.getCurrentReplicaLogDir() == null ? "null" : "set")
                        + " offsetLag=" + i.getCurrentReplicaOffsetLag()
                        + " future=" + i.getFutureReplicaLogDir() + " futureLag=" + i.getFutureReplicaOffsetLag()));
        probe("describeProducers.afterDeleteRecords", () -> producers(admin));

        probe("describeConfigs.broker", () -> {
            var res = new ConfigResource(ConfigResource.Type.BROKER, String.valueOf(self));
            var config = admin.describeConfigs(List.of(res)).all().get().get(res);
            return List.of("log.retention.hours", "auto.create.topics.enable", "log.segment.bytes")
                    .stream().map(k -> k + "=" + entry(config.get(k))).toList();
        });
        probe("describeConfigs.topic", () -> {
            var res = new ConfigResource(ConfigResource.Type.TOPIC, COMPACT);
            var config = admin.describeConfigs(List.of(res)).all().get().get(res);
            return List.of("cleanup.policy", "retention.ms", "segment.bytes")
                    .stream().map(k -> k + "=" + entry(config.get(k))).toList();
        });
        probe("describeFeatures", () -> {
            FeatureMetadata f = admin.describeFeatures().featureMetadata().get();
            return "finalized=" + sorted(f.finalizedFeatures(), (FinalizedVersionRange r) -> r.minVersionLevel() + ".." + r.maxVersionLevel())
                    + " supported=" + sorted(f.supportedFeatures(), (SupportedVersionRange r) -> r.minVersion() + ".." + r.maxVersion())
                    + " epoch=" + (f.finalizedFeaturesEpoch().isPresent() ? "set" : "none");
        });

        probe("describeAcls", () -> admin.describeAcls(AclBindingFilter.ANY).values().get());
        probe("createAcls", () -> admin.createAcls(List.of(new AclBinding(
                new ResourcePattern(ResourceType.TOPIC, TOPIC, PatternType.LITERAL),
                new AccessControlEntry("User:alice", "*", AclOperation.READ, AclPermissionType.ALLOW)))).all().get());
        probe("deleteAcls", () -> admin.deleteAcls(List.of(AclBindingFilter.ANY)).all().get());
        probe("describeClientQuotas", () -> admin.describeClientQuotas(ClientQuotaFilter.all()).entities().get());
        probe("alterClientQuotas.validateOnly", () -> {
            var entity = new org.apache.kafka.common.quota.ClientQuotaEntity(Map.of("user", "alice"));
            admin.alterClientQuotas(List.of(new org.apache.kafka.common.quota.ClientQuotaAlteration(entity,
                    List.of(new org.apache.kafka.common.quota.ClientQuotaAlteration.Op("producer_byte_rate", 1024.0)))),
                    new org.apache.kafka.clients.admin.AlterClientQuotasOptions().validateOnly(true)).all().get();
            return "ok";
        });
        probe("describeUserScramCredentials", () -> admin.describeUserScramCredentials().all().get());
        probe("describeUserScramCredentials.named", () -> admin.describeUserScramCredentials(List.of("alice")).all().get());

        probe("electLeaders.preferred", () -> sorted(admin.electLeaders(ElectionType.PREFERRED, Set.of(P0)).partitions().get(),
                (Optional<Throwable> e) -> e.map(AdminProbe::failure).orElse("elected")));
        probe("electLeaders.unclean", () -> sorted(admin.electLeaders(ElectionType.UNCLEAN, Set.of(P0, P1)).partitions().get(),
                (Optional<Throwable> e) -> e.map(AdminProbe::failure).orElse("elected")));
        probe("electLeaders.all", () -> sorted(admin.electLeaders(ElectionType.PREFERRED, null).partitions().get(),
                (Optional<Throwable> e) -> e.map(AdminProbe::failure).orElse("elected")));
        probe("electLeaders.unknownPartition", () -> sorted(admin.electLeaders(ElectionType.PREFERRED,
                        Set.of(new TopicPartition(TOPIC, 7))).partitions().get(),
                (Optional<Throwable> e) -> e.map(AdminProbe::failure).orElse("elected")));
        probe("listPartitionReassignments", () -> admin.listPartitionReassignments().reassignments().get());
        probe("listPartitionReassignments.named", () -> admin.listPartitionReassignments(Set.of(P0, new TopicPartition(TOPIC, 7)))
                .reassignments().get());
        probe("alterPartitionReassignments.same", () -> sorted(admin.alterPartitionReassignments(Map.of(
                P0, Optional.of(new NewPartitionReassignment(List.of(self))))).values(), AdminProbe::outcome));
        probe("alterPartitionReassignments.cancel", () -> sorted(admin.alterPartitionReassignments(Map.of(
                P0, Optional.empty())).values(), AdminProbe::outcome));
        probe("alterPartitionReassignments.otherBroker", () -> sorted(admin.alterPartitionReassignments(Map.of(
                P0, Optional.of(new NewPartitionReassignment(List.of(self + 1))))).values(), AdminProbe::outcome));
        probe("alterPartitionReassignments.unknownPartition", () -> sorted(admin.alterPartitionReassignments(Map.of(
                new TopicPartition(TOPIC, 7), Optional.of(new NewPartitionReassignment(List.of(self))))).values(),
                AdminProbe::outcome));
        probe("describeMetadataQuorum", () -> {
            QuorumInfo q = admin.describeMetadataQuorum().quorumInfo().get();
            return "leader=" + (q.leaderId() == self ? "self" : q.leaderId()) + " epoch=" + q.leaderEpoch()
                    + " highWatermark=" + (q.highWatermark() > 0 ? ">0" : q.highWatermark())
                    + " voters=" + q.voters().stream().map(v -> replica(v, self)).toList()
                    + " observers=" + q.observers().stream().map(v -> replica(v, self)).toList()
                    + " nodes=" + q.nodes().values().stream().map(n -> (n.nodeId() == self ? "self" : n.nodeId())
                            + " endpoints=" + n.endpoints().size()).toList();
        });
    }

    static String producers(Admin admin) throws Exception {
        return sorted(admin.describeProducers(List.of(P0, P1, new TopicPartition(COMPACT, 0))).all().get(),
                d -> d.activeProducers().stream().map(AdminProbe::producer).toList());
    }

    static String outcome(org.apache.kafka.common.KafkaFuture<Void> f) {
        try {
            f.get();
            return "ok";
        } catch (Exception e) {
            return failure(e);
        }
    }

    static String replica(QuorumInfo.ReplicaState r, int self) {
        return (r.replicaId() == self ? "self" : String.valueOf(r.replicaId()))
                + " directory=" + (r.replicaDirectoryId() == null || r.replicaDirectoryId() == Uuid.ZERO_UUID ? "none" : "set")
                + " logEndOffset=" + (r.logEndOffset() > 0 ? ">0" : r.logEndOffset())
                + " lastFetch=" + (r.lastFetchTimestamp().isPresent() ? "set" : "none")
                + " lastCaughtUp=" + (r.lastCaughtUpTimestamp().isPresent() ? "set" : "none");
    }

    static String logDir(LogDirDescription d) {
        TreeMap<String, String> replicas = new TreeMap<>();
        for (Map.Entry<TopicPartition, ReplicaInfo> e : d.replicaInfos().entrySet()) {
            if (!e.getKey().topic().startsWith(TOPIC)) {
                continue; // Kafka has 50 __consumer_offsets partitions, Gregor one.
            }
            ReplicaInfo r = e.getValue();
            replicas.put(e.getKey().toString(), "size" + (r.size() > 0 ? ">0" : "=" + r.size())
                    + " lag=" + r.offsetLag() + " future=" + r.isFuture());
        }
        return "error=" + (d.error() == null ? "none" : d.error().getClass().getSimpleName())
                + " total=" + (d.totalBytes().isPresent() && d.totalBytes().getAsLong() > 0 ? ">0" : d.totalBytes())
                + " usable=" + (d.usableBytes().isPresent() && d.usableBytes().getAsLong() > 0 ? ">0" : d.usableBytes())
                + " replicas=" + replicas;
    }

    static String producer(ProducerState p) {
        return "id" + (p.producerId() >= 0 ? ">=0" : "=" + p.producerId()) + " epoch=" + p.producerEpoch()
                + " lastSequence=" + p.lastSequence() + " lastTimestamp=" + (p.lastTimestamp() > 0 ? ">0" : p.lastTimestamp())
                + " coordinatorEpoch=" + p.coordinatorEpoch() + " txnStart=" + p.currentTransactionStartOffset();
    }

    static String offsets(Admin admin) throws Exception {
        List<String> out = new ArrayList<>();
        for (var spec : List.of(Map.entry("earliest", OffsetSpec.earliest()), Map.entry("latest", OffsetSpec.latest()))) {
            Map<TopicPartition, ListOffsetsResult.ListOffsetsResultInfo> r = admin.listOffsets(
                    Map.of(P0, spec.getValue(), P1, spec.getValue())).all().get();
            out.add(spec.getKey() + "=" + sorted(r, i -> i.offset()));
        }
        return String.join(" ", out);
    }

    /** Ten records to partition 0 in two batches, three to partition 1, three keyed ones to the
     * compacted topic, all from one idempotent producer. */
    static void produce(String bootstrap) throws Exception {
        Properties props = new Properties();
        props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        props.put(ProducerConfig.LINGER_MS_CONFIG, "100");
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(props)) {
            for (int batch = 0; batch < 2; batch++) {
                for (int i = 0; i < 5; i++) {
                    producer.send(new ProducerRecord<>(TOPIC, 0, null, "v" + i));
                }
                producer.flush();
            }
            for (int i = 0; i < 3; i++) {
                producer.send(new ProducerRecord<>(TOPIC, 1, null, "w" + i));
                producer.send(new ProducerRecord<>(COMPACT, 0, "k" + i, "c" + i));
            }
            producer.flush();
        }
    }
}
