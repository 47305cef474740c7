import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A lock convoy: "cache-refresher" holds the cache monitor while it sleeps (slow I/O under a
 * lock) and 30 request threads block on it; "session-sweeper" does the same with a
 * ReentrantLock and 12 threads park on it.
 */
public class LockConvoy {
    static final Object cache = new Object();
    static final ReentrantLock sessions = new ReentrantLock();

    static void refreshCache() throws InterruptedException {
        synchronized (cache) {
            Thread.sleep(600_000);
        }
    }

    static void lookup() {
        synchronized (cache) {
            System.out.println("hit");
        }
    }

    static void sweepSessions() throws InterruptedException {
        sessions.lock();
        try {
            Thread.sleep(600_000);
        } finally {
            sessions.unlock();
        }
    }

    static void touchSession() {
        sessions.lock();
        sessions.unlock();
    }

    public static void main(String[] args) throws Exception {
        Thread refresher = new Thread(() -> {
            try {
                refreshCache();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "cache-refresher");
        refresher.setDaemon(true);
        refresher.start();
        Thread sweeper = new Thread(() -> {
            try {
                sweepSessions();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "session-sweeper");
        sweeper.setDaemon(true);
        sweeper.start();
        Thread.sleep(200);
        ExecutorService web = Executors.newFixedThreadPool(30, Workload.named("http-nio-8080-exec-", true));
        for (int i = 0; i < 30; i++) {
            web.submit(LockConvoy::lookup);
        }
        ExecutorService api = Executors.newFixedThreadPool(12, Workload.named("grpc-default-executor-", true));
        for (int i = 0; i < 12; i++) {
            api.submit(LockConvoy::touchSession);
        }
        Thread.sleep(500);
        Workload.ready("blocked=42", Workload.lifetime(args));
    }
}
