// Kafka 4.4 moved AppInfoParser to org.apache.kafka.common.utils.internals; connect-file 4.3.1
// (Central serves no connect-file 4.4.0) still calls getVersion() here, from its connectors'
// version(), which Connect's REST API and worker call. This class forwards to the new place, so
// Kafka's own FileStreamSource runs unchanged on the 4.4 runtime. Compiled by the tests with
// javac into itests/java/target/compat (see itests/src/apps.rs).
package org.apache.kafka.common.utils;

public final class AppInfoParser {
    private AppInfoParser() {}

    public static String getVersion() {
        return org.apache.kafka.common.utils.internals.AppInfoParser.getVersion();
    }

    public static String getCommitId() {
        return org.apache.kafka.common.utils.internals.AppInfoParser.getCommitId();
    }
}
