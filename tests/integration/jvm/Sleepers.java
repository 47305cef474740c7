// A JVM that holds N named threads (argv[0]) blocked on a latch, prints
// "ready <pid>" and stays up. Used by the jvm collector tests.
import java.util.concurrent.CountDownLatch;

public class Sleepers {
    public static void main(String[] args) throws Exception {
        int n = args.length > 0 ? Integer.parseInt(args[0]) : 50;
        final CountDownLatch never = new CountDownLatch(1);
        for (int i = 0; i < n; i++) {
            Thread t = new Thread(() -> {
                try { never.await(); } catch (InterruptedException e) { }
            }, "Connection evictor");
            t.setDaemon(true);
            t.start();
        }
        System.out.println("ready " + ProcessHandle.current().pid());
        System.out.flush();
        Thread.sleep(Long.MAX_VALUE);
    }
}
