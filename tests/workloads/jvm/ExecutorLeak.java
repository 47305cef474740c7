import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * A thread pool created per request and never shut down (cf. incident 001): every call
 * leaves a pool-N-thread-1 parked forever, and N keeps climbing (about 20 pools a second).
 */
public class ExecutorLeak {
    static final List<ExecutorService> leaked = new ArrayList<>();

    static String handle(int i) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(4);
        leaked.add(pool); // the bug: no shutdown()
        return pool.submit(() -> "order-" + i).get();
    }

    public static void main(String[] args) throws Exception {
        for (int i = 0; i < 120; i++) {
            handle(i);
        }
        Thread more = new Thread(() -> {
            try {
                for (int i = 0; i < 3000; i++) {
                    handle(i);
                    Thread.sleep(50);
                }
            } catch (Exception e) {
                e.printStackTrace();
            }
        }, "order-intake");
        more.setDaemon(true);
        more.start();
        Workload.ready("pools=120", Workload.lifetime(args));
    }
}
