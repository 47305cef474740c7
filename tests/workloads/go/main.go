// Command workload reproduces goroutine pile-ups for hostsnap's analysis tests.
//
//	-mode=mutex    incident 004: one sync.Mutex locked and never unlocked, thousands of waiters
//	-mode=leak     goroutines leaked on channels, a nil channel, select{} and a WaitGroup
//	-mode=grow     a handler that leaks goroutines on every tick (the count keeps growing)
//	-mode=healthy  a small service that does its work
//	-mode=chanleak goroutines leaked in chan receive at four sites: 200/150/100/50 (n ignored)
//	-mode=pool     a worker pool of n goroutines idle in chan receive (normal, not a leak)
//	-mode=leakgrow every tick, n more goroutines leak in chan receive at two sites
//
// -gcevery runs a GC periodically: a wait's ", N minutes" is only shown once a GC has
// recorded when the goroutine blocked (the runtime forces one only every 2 minutes).
//
// It serves net/http/pprof on 127.0.0.1 (port printed as "READY <port>") and exits by
// itself after -lifetime so no test run leaves it behind. Standard library only.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"runtime"
	"sync"
	"time"
)

// pushHub mimics the push service of incident 004: subscribers and quotes share one lock.
type pushHub struct {
	mu          sync.Mutex
	subscribers map[int]chan string
}

// subscribe takes the hub lock; a path that returns early forgets to unlock it.
func (h *pushHub) subscribe(id int, early bool) {
	h.mu.Lock()
	if early {
		return // the bug: no Unlock on this path
	}
	h.subscribers[id] = make(chan string, 1)
	h.mu.Unlock()
}

func (h *pushHub) publish(quote string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, ch := range h.subscribers {
		select {
		case ch <- quote:
		default:
		}
	}
}

func mutexMode(n int) {
	hub := &pushHub{subscribers: map[int]chan string{}}
	hub.subscribe(0, true)
	for i := 1; i <= n; i++ {
		if i%2 == 0 {
			go hub.subscribe(i, false)
		} else {
			go hub.publish("quote")
		}
	}
}

type notifier struct{ events chan string }

func (n *notifier) publish(e string) { n.events <- e } // nobody reads events

func waitReply(reply chan string) string { return <-reply } // nobody answers

func waitForever() {
	var never chan int
	<-never
}

func parkForever() { select {} }

func leakMode(n int) {
	nt := &notifier{events: make(chan string)}
	for i := 0; i < n/2; i++ {
		go nt.publish("order-created")
	}
	for i := 0; i < n*3/10; i++ {
		go waitReply(make(chan string))
	}
	for i := 0; i < 20; i++ {
		go waitForever()
	}
	for i := 0; i < 15; i++ {
		go parkForever()
	}
	var wg sync.WaitGroup
	wg.Add(1) // Done is never called
	for i := 0; i < 3*n/2; i++ {
		go func() { wg.Wait() }()
	}
}

// handle waits for a reply that never comes: every "request" leaks one goroutine.
func handle(replies chan string) { <-replies }

func growMode(perTick int) {
	go func() {
		for {
			for i := 0; i < perTick; i++ {
				go handle(make(chan string))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
}

func healthyMode() {
	jobs := make(chan int, 64)
	for w := 0; w < 8; w++ {
		go func() {
			for j := range jobs {
				_ = j * j
			}
		}()
	}
	go func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for i := 0; ; i++ {
			<-t.C
			jobs <- i
		}
	}()
	var mu sync.Mutex
	counter := 0
	for i := 0; i < 100; i++ {
		go func() {
			mu.Lock()
			counter++
			mu.Unlock()
		}()
	}
}

// Four leak sites, one per function, so each is its own stack group.
func awaitQuote(ch chan string)   { <-ch }
func awaitAck(ch chan string)     { <-ch }
func awaitReceipt(ch chan string) { <-ch }
func awaitCancel(ch chan string)  { <-ch }

func chanLeakMode() {
	for i := 0; i < 200; i++ {
		go awaitQuote(make(chan string))
	}
	for i := 0; i < 150; i++ {
		go awaitAck(make(chan string))
	}
	for i := 0; i < 100; i++ {
		go awaitReceipt(make(chan string))
	}
	for i := 0; i < 50; i++ {
		go awaitCancel(make(chan string))
	}
}

// poolWorker is a worker of a fixed-size pool: parked in chan receive between jobs.
func poolWorker(jobs <-chan int) {
	for j := range jobs {
		_ = j * j
	}
}

func poolMode(n int) {
	jobs := make(chan int)
	for i := 0; i < n; i++ {
		go poolWorker(jobs)
	}
}

func leakGrowMode(perTick int) {
	go func() {
		for {
			for i := 0; i < perTick; i++ {
				go awaitQuote(make(chan string))
				go awaitAck(make(chan string))
			}
			time.Sleep(time.Second)
		}
	}()
}

func main() {
	mode := flag.String("mode", "healthy", "mutex, leak, grow or healthy")
	n := flag.Int("n", 1000, "goroutines to pile up")
	lifetime := flag.Duration("lifetime", 5*time.Minute, "exit after this long")
	gcEvery := flag.Duration("gcevery", 0, "run a GC this often (0: never)")
	flag.Parse()
	if *gcEvery > 0 {
		go func() {
			for {
				time.Sleep(*gcEvery)
				runtime.GC()
			}
		}()
	}

	switch *mode {
	case "mutex":
		mutexMode(*n)
	case "leak":
		leakMode(*n)
	case "grow":
		growMode(*n)
	case "healthy":
		healthyMode()
	case "chanleak":
		chanLeakMode()
	case "pool":
		poolMode(*n)
	case "leakgrow":
		leakGrowMode(*n)
	default:
		fmt.Fprintln(os.Stderr, "unknown mode", *mode)
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	go func() { _ = http.Serve(ln, nil) }()
	time.Sleep(300 * time.Millisecond)
	runtime.GC() // wait durations (", N minutes") are only recorded once a GC has run
	fmt.Printf("READY %d\n", ln.Addr().(*net.TCPAddr).Port)
	time.Sleep(*lifetime)
}
