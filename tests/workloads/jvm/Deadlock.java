import java.util.concurrent.CountDownLatch;
import java.util.concurrent.locks.ReentrantLock;

/** Two classic deadlocks: one on monitors (synchronized), one on ReentrantLocks. */
public class Deadlock {
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
        new Thread(() -> transfer(accounts, ledger, m), "transfer-1").start();
        new Thread(() -> transfer(ledger, accounts, m), "transfer-2").start();
        CountDownLatch j = new CountDownLatch(2);
        new Thread(() -> reserve(inventory, orders, j), "reserve-1").start();
        new Thread(() -> reserve(orders, inventory, j), "reserve-2").start();
        Thread.sleep(500);
        Workload.ready("deadlocks=2", Workload.lifetime(args));
    }
}
