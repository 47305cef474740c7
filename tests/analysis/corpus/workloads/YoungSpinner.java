/**
 * A thread that burns a core from its first second: "report-builder" starts after READY,
 * so a dump taken a few seconds later sees a young thread at ~100% of a core.
 */
public class YoungSpinner {
    static volatile long sink;

    public static void main(String[] args) throws Exception {
        Thread hot = new Thread(() -> {
            long x = 0;
            while (true) {
                for (int i = 0; i < 1_000_000; i++) {
                    x += i * 31L ^ (x >>> 3);
                }
                sink = x;
            }
        }, "report-builder");
        hot.setDaemon(true);
        hot.start();
        Workload.ready("spinning", Workload.lifetime(args));
    }
}
