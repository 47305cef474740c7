import com.sun.net.httpserver.HttpServer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.http.client.methods.CloseableHttpResponse;
import org.apache.http.client.methods.HttpGet;
import org.apache.http.impl.client.CloseableHttpClient;
import org.apache.http.impl.client.HttpClients;
import org.apache.http.util.EntityUtils;

/**
 * Incident 002: a new HttpClient 4.x with evictExpiredConnections() per request, never closed.
 * Each build() starts one "Connection evictor" thread that lives forever; the count keeps
 * growing (about 40 a second) so two dumps a second apart show the growth.
 */
public class EvictorLeak {
    static final List<CloseableHttpClient> leaked = new ArrayList<>();

    static void request(String url) throws Exception {
        CloseableHttpClient client = HttpClients.custom()
                .evictExpiredConnections()
                .evictIdleConnections(30, TimeUnit.SECONDS)
                .build();
        leaked.add(client); // the bug: built per request, never closed
        try (CloseableHttpResponse r = client.execute(new HttpGet(url))) {
            EntityUtils.consume(r.getEntity());
        }
    }

    public static void main(String[] args) throws Exception {
        HttpServer server = Workload.server(0);
        String url = Workload.url(server);
        for (int i = 0; i < 220; i++) {
            request(url);
        }
        Thread requests = new Thread(() -> {
            try {
                for (int i = 0; i < 3000; i++) {
                    request(url);
                    Thread.sleep(25);
                }
            } catch (Exception e) {
                e.printStackTrace();
            }
        }, "http-nio-8080-exec-1");
        requests.setDaemon(true);
        requests.start();
        Workload.ready("evictors=" + leaked.size(), Workload.lifetime(args));
    }
}
