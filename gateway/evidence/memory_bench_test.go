package evidence

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"testing"
)

// BenchmarkSealerStateMemory appends n leaves the way the sealer does
// (Log.AppendLeafHashNodes into the tile writer, tiles taken per batch of
// 1000 as Seal would store them) and reports the live heap afterwards:
// the sealer's memory must not grow with the log (README, Evidence). Run:
//
//	go test ./gateway/evidence -run '^$' -bench SealerStateMemory -benchtime 1x
func BenchmarkSealerStateMemory(b *testing.B) {
	for _, n := range []int{1_000_000, 10_000_000} {
		b.Run(fmt.Sprintf("leaves=%d", n), func(b *testing.B) {
			for range b.N {
				runtime.GC()
				var before runtime.MemStats
				runtime.ReadMemStats(&before)
				l := NewLog()
				tw := newTileWriter(nil)
				var leaf [8]byte
				stored := 0
				for i := range n {
					binary.BigEndian.PutUint64(leaf[:], uint64(i))
					l.AppendLeafHashNodes(LeafHash(leaf[:]), tw.visit)
					if i%1000 == 999 {
						tiles, err := tw.take()
						if err != nil {
							b.Fatal(err)
						}
						stored += len(tiles)
					}
				}
				runtime.GC()
				var after runtime.MemStats
				runtime.ReadMemStats(&after)
				runtime.KeepAlive(l)
				runtime.KeepAlive(tw)
				b.ReportMetric(float64(int64(after.HeapInuse)-int64(before.HeapInuse)), "heap-B")
				b.ReportMetric(float64(len(l.State().Hashes)), "range-hashes")
				b.ReportMetric(float64(stored), "tile-writes")
			}
		})
	}
}
