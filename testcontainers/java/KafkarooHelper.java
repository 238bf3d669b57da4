// Test helper of kafkaroo-testcontainers: does with Kafka's own Java client what the console tools cannot
// (exact keys, null values, repeated headers, partitions, timestamps, transactions) and topic administration.
//
// Usage: java -cp <dir of this class>:<kafka-clients and deps> KafkarooHelper <bootstrap>
// It serves requests read from stdin until EOF (so it dies with its parent), one reply per request.
// Fields are tab separated; bytes and free text are hex ("-" = null). Replies: zero or more data lines,
// then "ok" or "err\t<hex of the error>".
//
//   create  <topic> <partitions> <replication-factor> <n> (<config-hex> <value-hex>){n}
//   delete  <topic>
//   produce <topic> <partition|-> <transactional-id|-> <separate 0|1> <n> (<config-hex> <value-hex>){n} <groups>
//     then per group:  group <commit|abort|plain> <records>
//     then per record: rec <key> <value> <timestamp|-> <n> (<name-hex> <value-hex|->){n}
//     replies one "pos <partition> <offset>" per record, in order
//   consume <topic> <partition> <from-offset|-1 = beginning> <read_committed|read_uncommitted> <timeout-ms>
//           [<n> (<config-hex> <value-hex>){n}]
//     replies one "rec <offset> <timestamp> <CreateTime|LogAppendTime|NoTimestampType> <key> <value> <n> (<name> <value>){n}"
//     per record from the offset up to the end offset (the last stable offset for read_committed); the
//     optional consumer configs override the defaults (e.g. bootstrap.servers and security settings)
//   scram <user-hex> <SCRAM-SHA-256|SCRAM-SHA-512> <iterations> <password-hex>
//     adds or replaces a SCRAM credential, then waits until the broker lists it
//   acl <add|remove> <ALLOW|DENY> <resource-type> <LITERAL|PREFIXED> <name-hex> <principal-hex> <operation> <host-hex>
//     creates or deletes one ACL binding (AclOperation and ResourceType names), then waits until the
//     broker's authorizer shows the change
import java.io.BufferedReader;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.ScramCredentialInfo;
import org.apache.kafka.clients.admin.ScramMechanism;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.admin.UserScramCredentialUpsertion;
import org.apache.kafka.clients.admin.UserScramCredentialsDescription;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Partitioner;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.Cluster;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.errors.ResourceNotFoundException;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourceType;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public final class KafkarooHelper {
    private static final HexFormat HEX = HexFormat.of();

    private final String bootstrap;
    private final BufferedReader in;
    private final PrintStream out;
    private Admin admin;

    private KafkarooHelper(String bootstrap, BufferedReader in, PrintStream out) {
        this.bootstrap = bootstrap;
        this.in = in;
        this.out = out;
    }

    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), false, StandardCharsets.UTF_8);
        // Whatever a library prints must not corrupt the protocol.
        System.setOut(System.err);
        new KafkarooHelper(args[0], in, out).serve();
        System.exit(0);
    }

    private void serve() throws Exception {
        out.println("ready");
        out.flush();
        String line;
        while ((line = in.readLine()) != null) {
            if (line.isEmpty()) {
                continue;
            }
            String[] f = line.split("\t", -1);
            try {
                switch (f[0]) {
                    case "create":
                        create(f);
                        break;
                    case "delete":
                        delete(f);
                        break;
                    case "produce":
                        produce(f);
                        break;
                    case "consume":
                        consume(f);
                        break;
                    case "scram":
                        scram(f);
                        break;
                    case "acl":
                        acl(f);
                        break;
                    default:
                        throw new IllegalArgumentException("unknown command " + f[0]);
                }
                out.println("ok");
            } catch (Throwable t) {
                out.println("err\t" + hex(describe(t)));
            }
            out.flush();
        }
        if (admin != null) {
            admin.close(Duration.ofSeconds(5));
        }
    }

    private Admin admin() {
        if (admin == null) {
            Properties p = new Properties();
            p.put("bootstrap.servers", bootstrap);
            p.put("default.api.timeout.ms", "60000");
            admin = Admin.create(p);
        }
        return admin;
    }

    private void create(String[] f) throws Exception {
        String topic = f[1];
        int partitions = Integer.parseInt(f[2]);
        short rf = Short.parseShort(f[3]);
        Map<String, String> configs = pairs(f, 4);
        admin().createTopics(List.of(new NewTopic(topic, partitions, rf).configs(configs)))
            .all().get(60, TimeUnit.SECONDS);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (true) {
            try {
                TopicDescription d = admin().describeTopics(List.of(topic)).allTopicNames()
                    .get(30, TimeUnit.SECONDS).get(topic);
                boolean ready = d.partitions().size() == partitions;
                for (TopicPartitionInfo p : d.partitions()) {
                    ready &= p.leader() != null && !p.leader().isEmpty();
                }
                if (ready) {
                    return;
                }
            } catch (Exception e) {
                if (System.nanoTime() > deadline) {
                    throw e;
                }
            }
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("topic " + topic + " has no leaders after 60 s");
            }
            Thread.sleep(50);
        }
    }

    private void delete(String[] f) throws Exception {
        admin().deleteTopics(List.of(f[1])).all().get(60, TimeUnit.SECONDS);
    }

    private static final class Rec {
        byte[] key;
        byte[] value;
        Long timestamp;
        List<Header> headers = new ArrayList<>();
    }

    private static final class Group {
        String end;
        List<Rec> records = new ArrayList<>();
    }

    private void produce(String[] f) throws Exception {
        // Read the whole request first so that a failure cannot desynchronise the protocol.
        String topic = f[1];
        Integer partition = f[2].equals("-") ? null : Integer.valueOf(f[2]);
        String txnId = f[3].equals("-") ? null : f[3];
        boolean separate = f[4].equals("1");
        int nconfigs = Integer.parseInt(f[5]);
        Map<String, String> configs = pairs(f, 5);
        int ngroups = Integer.parseInt(f[6 + 2 * nconfigs]);
        List<Group> groups = new ArrayList<>();
        for (int g = 0; g < ngroups; g++) {
            String[] gl = in.readLine().split("\t", -1);
            Group group = new Group();
            group.end = gl[1];
            int n = Integer.parseInt(gl[2]);
            for (int r = 0; r < n; r++) {
                String[] rl = in.readLine().split("\t", -1);
                Rec rec = new Rec();
                rec.key = bytes(rl[1]);
                rec.value = bytes(rl[2]);
                rec.timestamp = rl[3].equals("-") ? null : Long.valueOf(rl[3]);
                int nh = Integer.parseInt(rl[4]);
                for (int h = 0; h < nh; h++) {
                    rec.headers.add(new RecordHeader(text(rl[5 + 2 * h]), bytes(rl[6 + 2 * h])));
                }
                group.records.add(rec);
            }
            groups.add(group);
        }

        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("key.serializer", ByteArraySerializer.class.getName());
        p.put("value.serializer", ByteArraySerializer.class.getName());
        if (txnId != null) {
            p.put("transactional.id", txnId);
        }
        p.putAll(configs);
        List<String> positions = new ArrayList<>();
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p)) {
            if (txnId != null) {
                producer.initTransactions();
            }
            for (Group group : groups) {
                boolean txn = !group.end.equals("plain");
                if (txn) {
                    producer.beginTransaction();
                }
                List<Future<RecordMetadata>> futures = new ArrayList<>();
                for (Rec r : group.records) {
                    Future<RecordMetadata> fut = producer.send(
                        new ProducerRecord<>(topic, partition, r.timestamp, r.key, r.value, r.headers));
                    if (separate) {
                        fut.get();
                    }
                    futures.add(fut);
                }
                // Aborted records must reach the log too: flush before aborting.
                producer.flush();
                if (txn) {
                    if (group.end.equals("commit")) {
                        producer.commitTransaction();
                    } else {
                        producer.abortTransaction();
                    }
                }
                for (Future<RecordMetadata> fut : futures) {
                    RecordMetadata m = fut.get();
                    positions.add("pos\t" + m.partition() + "\t" + m.offset());
                }
            }
        }
        for (String pos : positions) {
            out.println(pos);
        }
    }

    private void consume(String[] f) throws Exception {
        TopicPartition tp = new TopicPartition(f[1], Integer.parseInt(f[2]));
        long from = Long.parseLong(f[3]);
        long timeoutMs = Long.parseLong(f[5]);
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("key.deserializer", ByteArrayDeserializer.class.getName());
        p.put("value.deserializer", ByteArrayDeserializer.class.getName());
        p.put("isolation.level", f[4]);
        p.put("enable.auto.commit", "false");
        p.put("auto.offset.reset", "earliest");
        if (f.length > 6) {
            p.putAll(pairs(f, 6));
        }
        List<String> lines = new ArrayList<>();
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(p)) {
            consumer.assign(List.of(tp));
            if (from < 0) {
                consumer.seekToBeginning(List.of(tp));
            } else {
                consumer.seek(tp, from);
            }
            long end = consumer.endOffsets(List.of(tp), Duration.ofMillis(timeoutMs)).get(tp);
            long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
            while (consumer.position(tp, Duration.ofMillis(timeoutMs)) < end) {
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException("reading " + tp + " up to offset " + end + " took more than "
                        + timeoutMs + " ms; position " + consumer.position(tp));
                }
                for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(100)).records(tp)) {
                    if (r.offset() >= end) {
                        continue;
                    }
                    StringBuilder sb = new StringBuilder("rec\t");
                    sb.append(r.offset()).append('\t').append(r.timestamp()).append('\t')
                        .append(r.timestampType().name).append('\t')
                        .append(hex(r.key())).append('\t').append(hex(r.value()));
                    Header[] headers = r.headers().toArray();
                    sb.append('\t').append(headers.length);
                    for (Header h : headers) {
                        sb.append('\t').append(hex(h.key())).append('\t').append(hex(h.value()));
                    }
                    lines.add(sb.toString());
                }
            }
        }
        for (String line : lines) {
            out.println(line);
        }
    }

    private void scram(String[] f) throws Exception {
        String user = text(f[1]);
        ScramMechanism mechanism = ScramMechanism.fromMechanismName(f[2]);
        if (mechanism == ScramMechanism.UNKNOWN) {
            throw new IllegalArgumentException("unknown SCRAM mechanism " + f[2]);
        }
        int iterations = Integer.parseInt(f[3]);
        // One mechanism per request: the broker refuses to alter a user twice in one request.
        admin().alterUserScramCredentials(List.of(new UserScramCredentialUpsertion(
                user, new ScramCredentialInfo(mechanism, iterations), text(f[4]))))
            .all().get(60, TimeUnit.SECONDS);
        // The controller has it; wait until the broker (which answers Describe from its metadata) has it.
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (true) {
            try {
                UserScramCredentialsDescription d = admin().describeUserScramCredentials(List.of(user))
                    .description(user).get(30, TimeUnit.SECONDS);
                for (ScramCredentialInfo info : d.credentialInfos()) {
                    if (info.mechanism() == mechanism && info.iterations() == iterations) {
                        return;
                    }
                }
            } catch (ExecutionException e) {
                if (!(e.getCause() instanceof ResourceNotFoundException)) {
                    throw e;
                }
            }
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("the broker does not list " + f[2] + " for " + user + " after 60 s");
            }
            Thread.sleep(50);
        }
    }

    private void acl(String[] f) throws Exception {
        boolean add = f[1].equals("add");
        AclBinding binding = new AclBinding(
            new ResourcePattern(ResourceType.valueOf(f[3]), text(f[5]), PatternType.valueOf(f[4])),
            new AccessControlEntry(text(f[6]), text(f[8]), AclOperation.valueOf(f[7]),
                AclPermissionType.valueOf(f[2])));
        if (add) {
            admin().createAcls(List.of(binding)).all().get(60, TimeUnit.SECONDS);
        } else {
            admin().deleteAcls(List.of(binding.toFilter())).all().get(60, TimeUnit.SECONDS);
        }
        // DescribeAcls is answered by the broker's authorizer: once it shows the change, it applies.
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (admin().describeAcls(binding.toFilter()).values().get(30, TimeUnit.SECONDS).contains(binding) != add) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("the broker's authorizer does not show " + binding + " after 60 s");
            }
            Thread.sleep(50);
        }
    }

    private static Map<String, String> pairs(String[] f, int countIndex) {
        int n = Integer.parseInt(f[countIndex]);
        Map<String, String> m = new HashMap<>();
        for (int i = 0; i < n; i++) {
            m.put(text(f[countIndex + 1 + 2 * i]), text(f[countIndex + 2 + 2 * i]));
        }
        return m;
    }

    private static byte[] bytes(String hex) {
        return hex.equals("-") ? null : HEX.parseHex(hex);
    }

    private static String text(String hex) {
        return new String(HEX.parseHex(hex), StandardCharsets.UTF_8);
    }

    private static String hex(byte[] b) {
        return b == null ? "-" : HEX.formatHex(b);
    }

    private static String hex(String s) {
        return HEX.formatHex(s.getBytes(StandardCharsets.UTF_8));
    }

    private static String describe(Throwable t) {
        StringWriter w = new StringWriter();
        t.printStackTrace(new PrintWriter(w));
        return w.toString();
    }

    /** Sends every record to the partition named by the producer config {@code kafkaroo.partition}. */
    public static final class FixedPartitioner implements Partitioner {
        private int partition;

        @Override
        public void configure(Map<String, ?> configs) {
            partition = Integer.parseInt(String.valueOf(configs.get("kafkaroo.partition")));
        }

        @Override
        public int partition(String topic, Object key, byte[] keyBytes, Object value, byte[] valueBytes,
                             Cluster cluster) {
            return partition;
        }

        @Override
        public void close() {
        }
    }
}
