import java.util.concurrent.CountDownLatch;
import java.util.concurrent.locks.ReentrantLock;

/**
 * JDK 21+: the Deadlock workload's two cycles on virtual threads (ReentrantLocks and
 * monitors), plus a ReentrantLock cycle of two platform threads. The JVM's deadlock
 * detector does not look at virtual threads.
 */
public class VirtualDeadlock {
    static final Object accounts = new Object();
    static final Object ledger = new Object();
    static final ReentrantLock inventory = new ReentrantLock();
    static final ReentrantLock orders = new ReentrantLock();

    static void pause(CountDownLatch both) {
        both.countDown();
        try {
            both.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    static void transfer(Object first, Object second, CountDownLatch both) {
        synchronized (first) {
            pause(both);
            synchronized (second) {
                System.out.println("never");
            }
        }
    }

    static void reserve(ReentrantLock first, ReentrantLock second, CountDownLatch both) {
        first.lock();
        try {
            pause(both);
            second.lock();
        } finally {
            first.unlock();
        }
    }

    public static void main(String[] args) throws Exception {
        CountDownLatch m = new CountDownLatch(2);
        Thread.ofVirtual().name("vtransfer-1").start(() -> transfer(accounts, ledger, m));
        Thread.ofVirtual().name("vtransfer-2").start(() -> transfer(ledger, accounts, m));
        CountDownLatch j = new CountDownLatch(2);
        Thread.ofVirtual().name("vreserve-1").start(() -> reserve(inventory, orders, j));
        Thread.ofVirtual().name("vreserve-2").start(() -> reserve(orders, inventory, j));
        Thread.sleep(800);
        Workload.ready("deadlocks=2", Workload.lifetime(args));
    }
}
