import java.util.concurrent.*;
import java.util.concurrent.locks.*;

public class VThreads {
    static final Object MONITOR = new Object();
    static final ReentrantLock LOCK = new ReentrantLock();

    public static void main(String[] args) throws Exception {
        CountDownLatch held = new CountDownLatch(2);
        Thread holder = Thread.ofPlatform().name("monitor-holder").start(() -> {
            synchronized (MONITOR) { held.countDown(); sleep(600_000); }
        });
        Thread lockHolder = Thread.ofPlatform().name("lock-holder").start(() -> {
            LOCK.lock(); try { held.countDown(); sleep(600_000); } finally { LOCK.unlock(); }
        });
        held.await();
        for (int i = 0; i < 3; i++) {
            Thread.ofPlatform().name("platform-blocked-" + i).start(() -> { synchronized (MONITOR) { } });
            Thread.ofPlatform().name("platform-sleeper-" + i).daemon(true).start(() -> sleep(600_000));
        }
        for (int i = 0; i < 4; i++) {
            Thread.ofVirtual().name("virtual-sleeper-" + i).start(() -> sleep(600_000));
            Thread.ofVirtual().name("virtual-parked-" + i).start(() -> { LOCK.lock(); LOCK.unlock(); });
        }
        // Virtual threads blocked on a monitor (JDK 24+: they unmount; earlier: pin a carrier)
        for (int i = 0; i < 2; i++) {
            Thread.ofVirtual().name("virtual-blocked-" + i).start(() -> { synchronized (MONITOR) { } });
        }
        // A virtual thread that is busy on a carrier (pinned-ish: spinning)
        Thread.ofVirtual().name("virtual-spinner").start(() -> { long x = 0; while (true) { x += System.nanoTime() % 7; if (x == -1) break; } });
        // An unnamed virtual thread
        Thread.startVirtualThread(() -> sleep(600_000));
        // executor with virtual threads
        ExecutorService ex = Executors.newVirtualThreadPerTaskExecutor();
        for (int i = 0; i < 3; i++) ex.submit(() -> { sleep(600_000); return null; });
        System.out.println("READY");
        System.out.flush();
        Thread.sleep(Long.parseLong(args.length > 0 ? args[0] : "120") * 1000);
        System.exit(0);
    }

    static void sleep(long ms) {
        try { Thread.sleep(ms); } catch (InterruptedException e) { }
    }
}
