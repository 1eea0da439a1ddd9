import Benchmark
import SampleEvents
import SwitchyardCore

// The pure part of ingest, per request: scanning a body (JSONScanner, write key), normalising its events
// (IngestParser), and the identity engine's decision for a commit. A name ends with the events one iteration
// handles (`x100`); scripts/bench-micro divides by it to report per event.
let benchmarks: @Sendable () -> Void = {
    // Raw nanoseconds and counts: the report divides by the events per iteration, so no rounding to a unit first.
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal], timeUnits: .nanoseconds,
        units: [.mallocCountTotal: .count], warmupIterations: 10, maxDuration: .seconds(2), maxIterations: 100_000)

    let parser = IngestParser(rules: IngestRules())
    let track = SampleEvents.trackBody()
    let batch = SampleEvents.batchBody(count: 100)

    // What the harness itself costs per iteration (its clock reads and bookkeeping): the floor under the x1 rows.
    Benchmark("empty x1") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(track.count)
        }
    }
    // JSONScanner over the whole body plus the write key: what an unknown key costs before it is refused.
    Benchmark("scan track x1") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try? parser.scan(track))
        }
    }
    Benchmark("scan batch x100") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try? parser.scan(batch))
        }
    }
    // Scan and normalise: the `NewEvent`s a request hands to the commit.
    Benchmark("parse track x1") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(
                try? parser.parse(
                    track, endpoint: .single(.track), receivedAt: SampleEvents.receivedAt, clientIP: "203.0.113.7"))
        }
    }
    Benchmark("parse batch x100") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(
                try? parser.parse(batch, endpoint: .batch, receivedAt: SampleEvents.receivedAt, clientIP: "203.0.113.7")
            )
        }
    }

    // The identity decision for a commit of 100 events from 50 people, each already owning its one
    // anonymous id (the steady state: every event is a merge trigger that finds the merge done).
    let events = SampleEvents.parsedBatch(count: 100)
    let engine = IdentityEngine(policy: IdentityPolicy())
    let facts = SampleEvents.steadyFacts(for: events)
    Benchmark("identity decide x100") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(engine.decide(events, facts: facts))
        }
    }
    // The same with the facts request the store answers first (building the sets of ids to look up).
    Benchmark("identity request+decide x100") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(engine.factsRequest(for: events))
            blackHole(engine.decide(events, facts: facts))
        }
    }
}
