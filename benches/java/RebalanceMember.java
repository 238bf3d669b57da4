// One Java consumer-group member for benches' rebalance_pause: the same loop and output as the kafkaroo
// member (`rebalance_pause member`), so both clients are measured the same way.
//
// Usage: java -cp <classes>:<kafka tools classpath> RebalanceMember <topic> key=value...
// Prints to stdout, times in microseconds since the epoch:
//   S <t>                          before subscribe
//   R <t> <partition> <offset> <record timestamp ms>   every record (t = when poll returned)
//   A|V|L <t> <p,p,...|->          partitions assigned / revoked / lost (listener callbacks)
//   G <t> <generation> -           the generation changed (seen after a poll)
//   X <t>                          closed
// Stops (closing the consumer, i.e. leaving the group) when stdin reaches end of file.

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.time.Duration;
import java.time.Instant;
import java.util.Collection;
import java.util.List;
import java.util.Properties;
import java.util.stream.Collectors;

import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

public final class RebalanceMember {
    static long nowMicros() {
        Instant now = Instant.now();
        return now.getEpochSecond() * 1_000_000L + now.getNano() / 1_000;
    }

    static String partitions(Collection<TopicPartition> tps) {
        if (tps.isEmpty()) return "-";
        return tps.stream().map(tp -> Integer.toString(tp.partition())).sorted().collect(Collectors.joining(","));
    }

    public static void main(String[] args) {
        if (args.length < 1) {
            System.err.println("usage: RebalanceMember <topic> key=value...");
            System.exit(2);
        }
        String topic = args[0];
        Properties props = new Properties();
        for (int i = 1; i < args.length; i++) {
            String[] kv = args[i].split("=", 2);
            if (kv.length != 2) {
                System.err.println("expected key=value, got " + args[i]);
                System.exit(2);
            }
            props.put(kv[0], kv[1]);
        }
        props.put("key.deserializer", ByteArrayDeserializer.class.getName());
        props.put("value.deserializer", ByteArrayDeserializer.class.getName());

        PrintWriter out = new PrintWriter(new BufferedWriter(new OutputStreamWriter(System.out), 1 << 16));
        KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props);
        Thread stopper = new Thread(() -> {
            try {
                while (System.in.read() >= 0) { }
            } catch (IOException e) {
                // treat as end of input
            }
            consumer.wakeup();
        });
        stopper.setDaemon(true);
        stopper.start();

        out.println("S " + nowMicros());
        consumer.subscribe(List.of(topic), new ConsumerRebalanceListener() {
            @Override
            public void onPartitionsRevoked(Collection<TopicPartition> tps) {
                out.println("V " + nowMicros() + " " + partitions(tps));
            }

            @Override
            public void onPartitionsAssigned(Collection<TopicPartition> tps) {
                out.println("A " + nowMicros() + " " + partitions(tps));
            }

            @Override
            public void onPartitionsLost(Collection<TopicPartition> tps) {
                out.println("L " + nowMicros() + " " + partitions(tps));
            }
        });
        int generation = -1;
        try {
            while (true) {
                ConsumerRecords<byte[], byte[]> records = consumer.poll(Duration.ofMillis(100));
                long t = nowMicros();
                for (ConsumerRecord<byte[], byte[]> r : records) {
                    out.println("R " + t + " " + r.partition() + " " + r.offset() + " " + r.timestamp());
                }
                int g = consumer.groupMetadata().generationId();
                if (g != generation) {
                    out.println("G " + t + " " + g + " -");
                    generation = g;
                }
                out.flush();
            }
        } catch (WakeupException e) {
            // stdin closed: leave the group
        } finally {
            consumer.close();
            out.println("X " + nowMicros());
            out.flush();
        }
    }
}
