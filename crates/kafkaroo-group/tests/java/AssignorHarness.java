// Runs Java's assignors (kafka-clients) on a batch of groups read from stdin and prints the assignments.
// Driven by tests/java_compare.rs, which compiles it with javac against the cached kafka-clients jar.
// To run by hand:
//
//   JAR=$(ls ~/.cache/kafkaroo/kafka-4.4.0/libs/kafka-clients-*.jar)          # or tools-libs/
//   CP="$JAR:$(ls $(dirname $JAR)/slf4j-api-*.jar)"
//   javac -d /tmp/harness -cp "$CP" AssignorHarness.java
//   printf 'scenario 1 range\ntopic t 3\nmember a - -1 t -\nmember b - -1 t -\nend\n' \
//     | java -cp "/tmp/harness:$CP" AssignorHarness
//
// Input, one scenario after another (`-` = none):
//   scenario <id> <range|roundrobin|sticky|cooperative-sticky>
//   broker <node id> <rack|->                              (optional; default one broker 0 without rack)
//   topic <name> <partition count> [<replica ids per partition: 0+1,2,...; - for none>]
//   member <member id> <group instance id|-> <generation> <topic,topic|-> <owned topic:partition,...|->
//          [<client.rack|-; = for the empty string>]
//   end
// A replica id without a `broker` line is an offline broker: a node without rack, as Java's metadata
// shows it.
// Output per scenario: `scenario <id>`, then `<member id> <topic:partition,...|->` per member, then `end`.
//
// Previous ownership reaches each assignor the way a Java consumer would send it: `sticky` gets it in
// StickyAssignorUserData (written by a StickyAssignor after onAssignment), `cooperative-sticky` in the
// subscription's owned partitions and generation (plus its generation user data).
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor.Assignment;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor.GroupSubscription;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor.Subscription;
import org.apache.kafka.clients.consumer.CooperativeStickyAssignor;
import org.apache.kafka.clients.consumer.RangeAssignor;
import org.apache.kafka.clients.consumer.RoundRobinAssignor;
import org.apache.kafka.clients.consumer.StickyAssignor;
import org.apache.kafka.common.Cluster;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;

public class AssignorHarness {
    static List<String> split(String s) {
        List<String> out = new ArrayList<>();
        if (s.equals("-")) return out;
        for (String x : s.split(",")) out.add(x);
        return out;
    }

    static List<TopicPartition> partitions(String s) {
        List<TopicPartition> out = new ArrayList<>();
        for (String x : split(s)) {
            int i = x.lastIndexOf(':');
            out.add(new TopicPartition(x.substring(0, i), Integer.parseInt(x.substring(i + 1))));
        }
        return out;
    }

    @SuppressWarnings("removal")
    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        Node node = new Node(0, "localhost", 9092);
        Map<Integer, Node> brokers = new LinkedHashMap<>();
        String id = null;
        String assignorName = null;
        List<PartitionInfo> infos = new ArrayList<>();
        Map<String, Subscription> subs = new LinkedHashMap<>();
        StringBuilder out = new StringBuilder();
        String line;
        while ((line = in.readLine()) != null) {
            if (line.isEmpty()) continue;
            String[] f = line.split(" ");
            switch (f[0]) {
                case "scenario":
                    id = f[1];
                    assignorName = f[2];
                    infos = new ArrayList<>();
                    subs = new LinkedHashMap<>();
                    brokers = new LinkedHashMap<>();
                    break;
                case "broker": {
                    int b = Integer.parseInt(f[1]);
                    brokers.put(b, new Node(b, "localhost", 9092 + b, f[2].equals("-") ? null : f[2]));
                    break;
                }
                case "topic": {
                    String[] replicas = f.length > 3 ? f[3].split(",") : null;
                    for (int p = 0; p < Integer.parseInt(f[2]); p++) {
                        Node[] nodes = new Node[] {node};
                        if (replicas != null) {
                            List<Node> list = new ArrayList<>();
                            if (!replicas[p].equals("-"))
                                for (String r : replicas[p].split("\\+")) {
                                    int b = Integer.parseInt(r);
                                    list.add(brokers.containsKey(b) ? brokers.get(b) : new Node(b, "", -1));
                                }
                            nodes = list.toArray(new Node[0]);
                        }
                        Node leader = nodes.length > 0 ? nodes[0] : Node.noNode();
                        infos.add(new PartitionInfo(f[1], p, leader, nodes, nodes));
                    }
                    break;
                }
                case "member": {
                    String member = f[1];
                    Optional<String> instance = f[2].equals("-") ? Optional.empty() : Optional.of(f[2]);
                    int generation = Integer.parseInt(f[3]);
                    List<String> topics = split(f[4]);
                    List<TopicPartition> owned = partitions(f[5]);
                    Optional<String> rack = Optional.empty();
                    if (f.length > 6 && !f[6].equals("-"))
                        rack = Optional.of(f[6].equals("=") ? "" : f[6]);
                    Subscription sub;
                    switch (assignorName) {
                        case "sticky": {
                            ByteBuffer userData = null;
                            if (!owned.isEmpty()) {
                                StickyAssignor a = new StickyAssignor();
                                a.onAssignment(new Assignment(owned),
                                    new ConsumerGroupMetadata("g", generation, member, instance));
                                userData = a.subscriptionUserData(new HashSet<>(topics));
                            }
                            sub = new Subscription(topics, userData, Collections.emptyList(), generation, rack);
                            break;
                        }
                        case "cooperative-sticky": {
                            CooperativeStickyAssignor a = new CooperativeStickyAssignor();
                            a.onAssignment(new Assignment(owned),
                                new ConsumerGroupMetadata("g", generation, member, instance));
                            sub = new Subscription(topics, a.subscriptionUserData(new HashSet<>(topics)), owned,
                                generation, rack);
                            break;
                        }
                        default:
                            sub = new Subscription(topics, null, owned, generation, rack);
                    }
                    sub.setGroupInstanceId(instance);
                    subs.put(member, sub);
                    break;
                }
                case "end": {
                    ConsumerPartitionAssignor assignor;
                    switch (assignorName) {
                        case "range": assignor = new RangeAssignor(); break;
                        case "roundrobin": assignor = new RoundRobinAssignor(); break;
                        case "sticky": assignor = new StickyAssignor(); break;
                        case "cooperative-sticky": assignor = new CooperativeStickyAssignor(); break;
                        default: throw new IllegalArgumentException("unknown assignor " + assignorName);
                    }
                    List<Node> nodes = brokers.isEmpty() ? Collections.singletonList(node)
                        : new ArrayList<>(brokers.values());
                    Cluster cluster = new Cluster("c", nodes, infos, Collections.emptySet(), Collections.emptySet());
                    out.append("scenario ").append(id).append('\n');
                    try {
                        Map<String, Assignment> result =
                            assignor.assign(cluster, new GroupSubscription(subs)).groupAssignment();
                        for (Map.Entry<String, Assignment> e : result.entrySet()) {
                            List<String> tps = new ArrayList<>();
                            for (TopicPartition tp : e.getValue().partitions())
                                tps.add(tp.topic() + ":" + tp.partition());
                            out.append(e.getKey()).append(' ')
                                .append(tps.isEmpty() ? "-" : String.join(",", tps)).append('\n');
                        }
                    } catch (Exception e) {
                        out.append("error ").append(e.toString().replace('\n', ' ')).append('\n');
                    }
                    out.append("end\n");
                    break;
                }
                default:
                    throw new IllegalArgumentException("bad line: " + line);
            }
        }
        System.out.print(out);
    }
}
