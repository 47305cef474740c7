import com.sun.net.httpserver.HttpServer;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.apache.http.client.methods.CloseableHttpResponse;
import org.apache.http.client.methods.HttpGet;
import org.apache.http.impl.client.CloseableHttpClient;
import org.apache.http.impl.client.HttpClients;
import org.apache.http.impl.conn.PoolingHttpClientConnectionManager;
import org.apache.http.util.EntityUtils;

/**
 * HttpClient 4.x with a pooling manager left at its default of 2 connections per route:
 * 30 request threads on a slow backend, 28 park in AbstractConnPool.getPoolEntryBlocking.
 */
public class Http4Pool {
    public static void main(String[] args) throws Exception {
        HttpServer server = Workload.server(600_000);
        String url = Workload.url(server);
        PoolingHttpClientConnectionManager cm = new PoolingHttpClientConnectionManager();
        cm.setMaxTotal(200); // per-route default stays 2
        CloseableHttpClient client = HttpClients.custom().setConnectionManager(cm).build();
        ExecutorService workers = Executors.newFixedThreadPool(30, Workload.named("order-worker-", true));
        for (int i = 0; i < 30; i++) {
            workers.submit(() -> {
                try (CloseableHttpResponse r = client.execute(new HttpGet(url))) {
                    EntityUtils.consume(r.getEntity());
                } catch (Exception e) {
                    e.printStackTrace();
                }
            });
        }
        Thread.sleep(1500);
        Workload.ready("workers=30", Workload.lifetime(args));
    }
}
