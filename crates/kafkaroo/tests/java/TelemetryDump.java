import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

import org.apache.kafka.common.metrics.KafkaMetric;
import org.apache.kafka.common.metrics.MetricsReporter;
import org.apache.kafka.server.telemetry.ClientTelemetryContext;
import org.apache.kafka.server.telemetry.ClientTelemetryExporter;
import org.apache.kafka.server.telemetry.ClientTelemetryExporterProvider;
import org.apache.kafka.server.telemetry.ClientTelemetryPayload;
import org.apache.kafka.shaded.io.opentelemetry.proto.common.v1.KeyValue;
import org.apache.kafka.shaded.io.opentelemetry.proto.metrics.v1.Metric;
import org.apache.kafka.shaded.io.opentelemetry.proto.metrics.v1.MetricsData;
import org.apache.kafka.shaded.io.opentelemetry.proto.metrics.v1.NumberDataPoint;
import org.apache.kafka.shaded.io.opentelemetry.proto.metrics.v1.ResourceMetrics;
import org.apache.kafka.shaded.io.opentelemetry.proto.metrics.v1.ScopeMetrics;

/**
 * A broker-side client telemetry exporter (KIP-714, Kafka 4.2+ API) for kafkaroo's tests: every push is
 * parsed with the OTLP classes kafka-clients ships (shaded) and appended to the file named by the broker
 * property kafkaroo.telemetry.dump.file, one tab-separated line per item:
 *   PUSH client_instance_id terminating content_type push_interval_ms
 *   RESOURCE key value
 *   POINT name kind value attributes(k=v,...)      kind: gauge | sum:<temporality>:<monotonic>
 *   ERROR message                                  the payload did not parse
 */
public class TelemetryDump implements MetricsReporter, ClientTelemetryExporterProvider {
    private volatile Path file;

    @Override
    public void configure(Map<String, ?> configs) {
        Object f = configs.get("kafkaroo.telemetry.dump.file");
        if (f != null) {
            file = Paths.get(f.toString());
        }
    }

    @Override
    public void init(List<KafkaMetric> metrics) {}

    @Override
    public void metricChange(KafkaMetric metric) {}

    @Override
    public void metricRemoval(KafkaMetric metric) {}

    @Override
    public void close() {}

    @Override
    public ClientTelemetryExporter clientTelemetryExporter() {
        return this::export;
    }

    private synchronized void export(ClientTelemetryContext context, ClientTelemetryPayload payload) {
        StringBuilder out = new StringBuilder();
        out.append("PUSH\t").append(payload.clientInstanceId()).append('\t').append(payload.isTerminating())
            .append('\t').append(payload.contentType()).append('\t').append(context.pushIntervalMs()).append('\n');
        try {
            MetricsData data = MetricsData.parseFrom(payload.data().duplicate());
            for (ResourceMetrics rm : data.getResourceMetricsList()) {
                for (KeyValue kv : rm.getResource().getAttributesList()) {
                    out.append("RESOURCE\t").append(kv.getKey()).append('\t')
                        .append(kv.getValue().getStringValue()).append('\n');
                }
                for (ScopeMetrics sm : rm.getScopeMetricsList()) {
                    for (Metric m : sm.getMetricsList()) {
                        String kind;
                        List<NumberDataPoint> points;
                        if (m.hasGauge()) {
                            kind = "gauge";
                            points = m.getGauge().getDataPointsList();
                        } else if (m.hasSum()) {
                            kind = "sum:" + m.getSum().getAggregationTemporality() + ":" + m.getSum().getIsMonotonic();
                            points = m.getSum().getDataPointsList();
                        } else {
                            kind = "other";
                            points = List.of();
                        }
                        for (NumberDataPoint p : points) {
                            double value = p.getValueCase() == NumberDataPoint.ValueCase.AS_DOUBLE
                                ? p.getAsDouble() : (double) p.getAsInt();
                            String attributes = p.getAttributesList().stream()
                                .map(kv -> kv.getKey() + "=" + kv.getValue().getStringValue())
                                .collect(Collectors.joining(","));
                            out.append("POINT\t").append(m.getName()).append('\t').append(kind).append('\t')
                                .append(value).append('\t').append(attributes).append('\n');
                        }
                    }
                }
            }
        } catch (Exception e) {
            out.append("ERROR\t").append(String.valueOf(e).replace('\n', ' ')).append('\n');
        }
        try {
            Files.write(file, out.toString().getBytes(StandardCharsets.UTF_8),
                StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        } catch (Exception e) {
            throw new RuntimeException("writing " + file, e);
        }
    }
}
