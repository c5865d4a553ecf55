// Prints every config DescribeConfigs gives for one resource, one tab-separated line each:
// name, type, source, read-only, sensitive, value (or "null") and the synonyms as
// SOURCE:name=value separated by commas. The itest `itests/tests/describe_configs_full.rs` runs
// it against Gregor and Apache Kafka 4.4 and compares with `itests/fixtures/*.kafka.tsv`.
//
// Run: java -cp 'itests/java/target/lib/*' itests/java/src/ConfigDump.java BOOTSTRAP TYPE NAME
// where TYPE is broker, broker-logger, topic or group (an empty NAME is the cluster default).

import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.stream.Collectors;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.DescribeConfigsOptions;
import org.apache.kafka.common.config.ConfigResource;

public class ConfigDump {
    public static void main(String[] args) throws Exception {
        ConfigResource.Type type = switch (args[1]) {
            case "broker" -> ConfigResource.Type.BROKER;
            case "broker-logger" -> ConfigResource.Type.BROKER_LOGGER;
            case "topic" -> ConfigResource.Type.TOPIC;
            case "group" -> ConfigResource.Type.GROUP;
            default -> throw new IllegalArgumentException("unknown resource type " + args[1]);
        };
        String name = args.length > 2 ? args[2] : "";
        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        try (Admin admin = Admin.create(props)) {
            ConfigResource resource = new ConfigResource(type, name);
            DescribeConfigsOptions options =
                    new DescribeConfigsOptions().includeSynonyms(true).includeDocumentation(true);
            Map<ConfigResource, Config> result =
                    admin.describeConfigs(List.of(resource), options).all().get();
            Collection<ConfigEntry> entries = result.get(resource).entries();
            for (ConfigEntry e : entries.stream()
                    .sorted((a, b) -> a.name().compareTo(b.name()))
                    .collect(Collectors.toList())) {
                String synonyms = e.synonyms().stream()
                        .map(s -> s.source() + ":" + s.name() + "=" + s.value())
                        .collect(Collectors.joining(","));
                String doc = e.documentation() == null ? "nodoc" : "doc";
                System.out.println(String.join("\t", e.name(), String.valueOf(e.type()),
                        String.valueOf(e.source()), e.isReadOnly() ? "ro" : "rw",
                        e.isSensitive() ? "sensitive" : "plain", String.valueOf(e.value()),
                        synonyms, doc));
            }
        }
    }
}
