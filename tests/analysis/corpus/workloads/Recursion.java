import java.util.concurrent.CountDownLatch;

/**
 * One recursive code path caught at different depths: argv[1] depths x argv[2] threads, each
 * walking a tree to depth 20 + k and then blocking on one latch. Every depth is its own
 * stack (same frames, more or fewer recursive ones): one pile, not eight.
 */
public class Recursion {
    static final CountDownLatch never = new CountDownLatch(1);

    static int walk(int depth) throws InterruptedException {
        if (depth == 0) {
            never.await();
            return 0;
        }
        return walk(depth - 1) + 1;
    }

    public static void main(String[] args) throws Exception {
        int depths = args.length > 1 ? Integer.parseInt(args[1]) : 8;
        int each = args.length > 2 ? Integer.parseInt(args[2]) : 55;
        for (int k = 0; k < depths; k++) {
            final int d = 20 + k;
            for (int i = 0; i < each; i++) {
                Thread t = new Thread(() -> {
                    try {
                        walk(d);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }, "tree-walker-" + (k * each + i));
                t.setDaemon(true);
                t.start();
            }
        }
        Thread.sleep(1000);
        Workload.ready("walkers=" + depths * each, Workload.lifetime(args));
    }
}
