// Prints the consumer protocol bytes Java's kafka-clients produces, as `name hex` lines, for
// tests/golden.rs. The hex is checked in there; rerun this only to regenerate or re-verify:
//
//   JAR=$(ls ~/.cache/kafkaroo/kafka-4.4.0/libs/kafka-clients-*.jar)          # or tools-libs/
//   CP="$JAR:$(ls $(dirname $JAR)/slf4j-api-*.jar)"
//   javac -d /tmp/golden -cp "$CP" GoldenBytes.java && java -cp "/tmp/golden:$CP" GoldenBytes
//
// (tests/java_compare.rs compiles and runs it automatically and diffs its output with the checked-in hex.)
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Optional;

import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor.Assignment;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor.Subscription;
import org.apache.kafka.clients.consumer.CooperativeStickyAssignor;
import org.apache.kafka.clients.consumer.StickyAssignor;
import org.apache.kafka.clients.consumer.internals.ConsumerProtocol;
import org.apache.kafka.common.TopicPartition;

public class GoldenBytes {
    static String hex(ByteBuffer b) {
        ByteBuffer d = b.duplicate();
        StringBuilder sb = new StringBuilder();
        while (d.hasRemaining()) sb.append(String.format("%02x", d.get() & 0xff));
        return sb.toString();
    }

    static void print(String name, ByteBuffer b) {
        System.out.println(name + " " + hex(b));
    }

    static TopicPartition tp(String t, int p) {
        return new TopicPartition(t, p);
    }

    @SuppressWarnings("removal")
    public static void main(String[] args) {
        ByteBuffer ud = ByteBuffer.wrap(new byte[] {1, 2, 3});
        List<TopicPartition> owned = Arrays.asList(tp("orders", 2), tp("audit", 0), tp("orders", 0));

        // Subscription v0: topics given unsorted, Java sorts them.
        print("sub_v0", ConsumerProtocol.serializeSubscription(
            new Subscription(Arrays.asList("orders", "audit")), (short) 0));
        print("sub_v0_userdata", ConsumerProtocol.serializeSubscription(
            new Subscription(Arrays.asList("orders"), ud.duplicate()), (short) 0));
        print("sub_v1", ConsumerProtocol.serializeSubscription(
            new Subscription(Arrays.asList("orders", "audit"), null, owned), (short) 1));
        print("sub_v2", ConsumerProtocol.serializeSubscription(
            new Subscription(Arrays.asList("orders", "audit"), null, owned, 7, Optional.empty()), (short) 2));
        Subscription v3 = new Subscription(Arrays.asList("orders", "audit"), ud.duplicate(), owned, 5,
            Optional.of("rack-a"));
        v3.setGroupInstanceId(Optional.of("instance-1")); // not part of the bytes
        print("sub_v3", ConsumerProtocol.serializeSubscription(v3, (short) 3));
        print("sub_v3_empty", ConsumerProtocol.serializeSubscription(
            new Subscription(Collections.emptyList(), null, Collections.emptyList(), -1, Optional.empty()),
            (short) 3));

        List<TopicPartition> assigned = Arrays.asList(tp("audit", 0), tp("orders", 0), tp("orders", 2));
        print("asg_v0", ConsumerProtocol.serializeAssignment(new Assignment(assigned), (short) 0));
        print("asg_v1_userdata", ConsumerProtocol.serializeAssignment(
            new Assignment(assigned, ud.duplicate()), (short) 1));
        print("asg_v3", ConsumerProtocol.serializeAssignment(new Assignment(assigned), (short) 3));
        print("asg_v3_empty", ConsumerProtocol.serializeAssignment(
            new Assignment(Collections.emptyList()), (short) 3));

        // StickyAssignorUserData v1 (previous assignment + generation) as Java's StickyAssignor writes it.
        StickyAssignor sticky = new StickyAssignor();
        sticky.onAssignment(new Assignment(assigned), new ConsumerGroupMetadata("g", 9, "m", Optional.empty()));
        print("sticky_userdata_v1", sticky.subscriptionUserData(Collections.singleton("orders")));
        // CooperativeStickyAssignor's user data: a bare generation.
        CooperativeStickyAssignor coop = new CooperativeStickyAssignor();
        coop.onAssignment(new Assignment(assigned), new ConsumerGroupMetadata("g", 11, "m", Optional.empty()));
        print("coop_userdata", coop.subscriptionUserData(Collections.singleton("orders")));
    }
}
