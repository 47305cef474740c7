import com.sun.net.httpserver.HttpServer;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.util.concurrent.Executors;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.atomic.AtomicInteger;

/** Shared helpers for the workloads: a loopback HTTP server, named threads, a lifetime cap. */
final class Workload {
    private Workload() {}

    /** Loopback server whose handler sleeps delayMs before answering "ok". */
    static HttpServer server(long delayMs) throws Exception {
        HttpServer s = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 512);
        s.createContext("/", ex -> {
            try {
                Thread.sleep(delayMs);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            byte[] body = "ok".getBytes();
            ex.sendResponseHeaders(200, body.length);
            try (OutputStream os = ex.getResponseBody()) {
                os.write(body);
            }
        });
        s.setExecutor(Executors.newCachedThreadPool(named("backend-", true)));
        s.start();
        return s;
    }

    static String url(HttpServer s) {
        return "http://127.0.0.1:" + s.getAddress().getPort() + "/";
    }

    /** Thread names like Tomcat's, so the pool folding sees real-looking names. */
    static ThreadFactory named(String prefix, boolean daemon) {
        AtomicInteger n = new AtomicInteger();
        return r -> {
            Thread t = new Thread(r, prefix + n.incrementAndGet());
            t.setDaemon(daemon);
            return t;
        };
    }

    /** Print READY (the test waits for it) and exit after maxSeconds: no orphan outlives a test run. */
    static void ready(String detail, long maxSeconds) throws InterruptedException {
        System.out.println("READY " + detail);
        System.out.flush();
        Thread.sleep(maxSeconds * 1000L);
        System.exit(0);
    }

    static long lifetime(String[] args) {
        return args.length > 0 ? Long.parseLong(args[0]) : 300;
    }
}
