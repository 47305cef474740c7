import com.sun.net.httpserver.HttpServer;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.apache.commons.httpclient.HttpClient;
import org.apache.commons.httpclient.MultiThreadedHttpConnectionManager;
import org.apache.commons.httpclient.methods.GetMethod;
import org.apache.commons.httpclient.params.HttpConnectionManagerParams;

/**
 * Incident 003: commons-httpclient 3.1 with maxTotalConnections=500 but the default of
 * 2 connections per host. 40 request threads call one slow backend: 2 hold the
 * connections (reading the response), the rest wait in doGetConnection on the pool monitor.
 * argv[1]: the number of request threads (40; the corpus takes 200, the size of the issue).
 */
public class Http31Pool {
    public static void main(String[] args) throws Exception {
        int n = args.length > 1 ? Integer.parseInt(args[1]) : 40;
        HttpServer server = Workload.server(600_000);
        String url = Workload.url(server);
        MultiThreadedHttpConnectionManager manager = new MultiThreadedHttpConnectionManager();
        HttpConnectionManagerParams params = new HttpConnectionManagerParams();
        params.setMaxTotalConnections(500); // setDefaultMaxConnectionsPerHost forgotten: 2
        manager.setParams(params);
        HttpClient client = new HttpClient(manager);
        ExecutorService workers = Executors.newFixedThreadPool(n, Workload.named("http-nio-8080-exec-", true));
        for (int i = 0; i < n; i++) {
            workers.submit(() -> {
                GetMethod get = new GetMethod(url);
                try {
                    client.executeMethod(get);
                    get.getResponseBodyAsString();
                } catch (Exception e) {
                    e.printStackTrace();
                } finally {
                    get.releaseConnection();
                }
            });
        }
        Thread.sleep(n > 40 ? 2500 : 1500);
        Workload.ready("workers=" + n, Workload.lifetime(args));
    }
}
