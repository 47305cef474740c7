import com.sun.net.httpserver.HttpServer;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.apache.http.client.methods.CloseableHttpResponse;
import org.apache.http.client.methods.HttpGet;
import org.apache.http.impl.client.CloseableHttpClient;
import org.apache.http.impl.client.HttpClients;
import org.apache.http.util.EntityUtils;

/**
 * A healthy service: one shared HttpClient (one evictor thread), an idle worker pool, a
 * scheduler, a small HTTP server, and requests that finish. No rule may fire on it.
 */
public class Healthy {
    public static void main(String[] args) throws Exception {
        HttpServer server = Workload.server(5);
        String url = Workload.url(server);
        CloseableHttpClient client = HttpClients.custom().evictExpiredConnections().build();
        ExecutorService workers = Executors.newFixedThreadPool(16, Workload.named("http-nio-8080-exec-", true));
        ScheduledExecutorService timer = Executors.newScheduledThreadPool(2);
        timer.scheduleAtFixedRate(() -> {
            try (CloseableHttpResponse r = client.execute(new HttpGet(url))) {
                EntityUtils.consume(r.getEntity());
            } catch (Exception e) {
                e.printStackTrace();
            }
        }, 0, 100, TimeUnit.MILLISECONDS);
        for (int i = 0; i < 64; i++) {
            workers.submit(() -> {
                try (CloseableHttpResponse r = client.execute(new HttpGet(url))) {
                    EntityUtils.consume(r.getEntity());
                } catch (Exception e) {
                    e.printStackTrace();
                }
            });
        }
        Thread.sleep(500);
        Workload.ready("ok", Workload.lifetime(args));
    }
}
