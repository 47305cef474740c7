import com.sun.net.httpserver.HttpServer;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.apache.commons.httpclient.HttpClient;
import org.apache.commons.httpclient.MultiThreadedHttpConnectionManager;
import org.apache.commons.httpclient.methods.GetMethod;
import org.apache.commons.httpclient.params.HttpConnectionManagerParams;

/**
 * Incident 003 at the size of the issue: commons-httpclient 3.1, 2 connections per host by
 * default, argv[1] request threads (200) on one slow backend: 2 hold the connections, the
 * other 198 wait for the one pool (some in wait(), some queued to enter its monitor).
 */
public class PoolWait31 {
    public static void main(String[] args) throws Exception {
        int n = args.length > 1 ? Integer.parseInt(args[1]) : 200;
        HttpServer server = Workload.server(600_000);
        String url = Workload.url(server);
        MultiThreadedHttpConnectionManager manager = new MultiThreadedHttpConnectionManager();
        HttpConnectionManagerParams params = new HttpConnectionManagerParams();
        params.setMaxTotalConnections(500);
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
        Thread.sleep(2500);
        Workload.ready("workers=" + n, Workload.lifetime(args));
    }
}
