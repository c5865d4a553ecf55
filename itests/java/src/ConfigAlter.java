// Applies IncrementalAlterConfigs operations to one resource, each as its own call, and prints
// one line per operation: the operation, then "ok" or the exception's class and message.
// Used by `itests/tests/dynamic_broker_configs.rs` against Gregor and Apache Kafka 4.4.
//
// Run: java -cp 'itests/java/target/lib/*' itests/java/src/ConfigAlter.java BOOTSTRAP TYPE NAME OP...
// where TYPE is broker, broker-logger or group, and each OP is `set:key=value` or `delete:key`
// (`validate:` before one only validates it).

import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.AlterConfigsOptions;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.common.config.ConfigResource;

public class ConfigAlter {
    public static void main(String[] args) throws Exception {
        ConfigResource.Type type = switch (args[1]) {
            case "broker" -> ConfigResource.Type.BROKER;
            case "broker-logger" -> ConfigResource.Type.BROKER_LOGGER;
            case "topic" -> ConfigResource.Type.TOPIC;
            case "group" -> ConfigResource.Type.GROUP;
            default -> throw new IllegalArgumentException("unknown resource type " + args[1]);
        };
        ConfigResource resource = new ConfigResource(type, args[2]);
        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        try (Admin admin = Admin.create(props)) {
            for (int i = 3; i < args.length; i++) {
                String op = args[i];
                boolean validate = op.startsWith("validate:");
                String rest = validate ? op.substring("validate:".length()) : op;
                AlterConfigOp alter;
                if (rest.startsWith("set:")) {
                    String[] kv = rest.substring(4).split("=", 2);
                    alter = new AlterConfigOp(new ConfigEntry(kv[0], kv[1]), AlterConfigOp.OpType.SET);
                } else if (rest.startsWith("delete:")) {
                    alter = new AlterConfigOp(new ConfigEntry(rest.substring(7), null),
                            AlterConfigOp.OpType.DELETE);
                } else {
                    throw new IllegalArgumentException("unknown operation " + op);
                }
                Map<ConfigResource, Collection<AlterConfigOp>> ops = Map.of(resource, List.of(alter));
                try {
                    admin.incrementalAlterConfigs(ops, new AlterConfigsOptions().validateOnly(validate))
                            .all().get();
                    System.out.println(op + "\tok");
                } catch (ExecutionException e) {
                    Throwable c = e.getCause();
                    System.out.println(op + "\t" + c.getClass().getSimpleName() + ": " + c.getMessage());
                }
            }
        }
    }
}
