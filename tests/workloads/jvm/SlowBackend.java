import com.sun.net.httpserver.HttpServer;
import java.io.InputStream;
import java.net.HttpURLConnection;
import java.net.URL;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * 60 request threads all stuck reading from one slow backend with plain HttpURLConnection
 * (no pool limit: every thread has its own socket), plus "report-builder" burning a core.
 */
public class SlowBackend {
    static volatile long sink;

    static void call(String url) {
        try {
            HttpURLConnection c = (HttpURLConnection) new URL(url).openConnection();
            try (InputStream in = c.getInputStream()) {
                in.readAllBytes();
            }
        } catch (Exception e) {
            e.printStackTrace();
        }
    }

    static void buildReport() {
        long x = 0;
        while (true) {
            for (int i = 0; i < 1_000_000; i++) {
                x += i * 31L ^ (x >>> 3);
            }
            sink = x;
        }
    }

    public static void main(String[] args) throws Exception {
        HttpServer server = Workload.server(600_000);
        String url = Workload.url(server);
        ExecutorService workers = Executors.newFixedThreadPool(60, Workload.named("http-nio-8080-exec-", true));
        for (int i = 0; i < 60; i++) {
            workers.submit(() -> call(url));
        }
        Thread hot = new Thread(SlowBackend::buildReport, "report-builder");
        hot.setDaemon(true);
        hot.start();
        Thread.sleep(1000);
        Workload.ready("readers=60", Workload.lifetime(args));
    }
}
