import type { Registry } from "prom-client";

/**
 * A counter and a histogram for the series written on every request (http_requests_total,
 * http_request_duration_seconds, azora_upstream_requests_total). prom-client's label children hash and
 * validate their labels on every inc/observe; here a child is resolved once and then adds to its series
 * directly (docs/adr/0510). Both register themselves in prom-client registries like prom-client's own
 * metrics, and give `/metrics` (and `getMetricsAsJSON`) the very values prom-client's Counter and
 * Histogram would give for the same calls: same series order, same label objects, same bucket lines
 * (`labelled-series.test.ts` compares the two texts).
 */

type Labels<Name extends string> = Record<Name, string>;

interface CounterSeries {
  value: number;
  labels: Record<string, string>;
}

interface HistogramSeries {
  labels: Record<string, string>;
  /** Observations per bucket (not cumulative), one slot per upper bound. */
  buckets: number[];
  sum: number;
  count: number;
}

interface SeriesOptions<Name extends string> {
  name: string;
  help: string;
  labelNames: readonly Name[];
  registers: Registry[];
}

/** One key per label set, in the label names' order (prom-client's hash, without its sorting per call). */
const keyOf = (labelNames: readonly string[], labels: Record<string, string>) => labelNames.map((name) => labels[name]).join("\u0000");

/** A series map whose children stay valid across reset(): after one, a child finds (or makes) its series again. */
abstract class LabelledSeries<Name extends string, Series extends { labels: Record<string, string> }> {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly Name[];
  readonly aggregator = "sum";
  protected series = new Map<string, Series>();
  /** Bumped by reset(), so children drop the series they hold. */
  private generation = 0;

  constructor(options: SeriesOptions<Name>) {
    this.name = options.name;
    this.help = options.help;
    this.labelNames = options.labelNames;
    for (const registry of options.registers) registry.registerMetric(this as never);
  }

  protected abstract create(labels: Record<string, string>): Series;

  /**
   * The series of one label set, resolved once: the labels are checked and keyed here, and the series is
   * made (and placed last, as in prom-client) on the first write, not before, so an unused child adds no series.
   */
  protected child(labels: Labels<Name>): () => Series {
    for (const name of Object.keys(labels)) {
      if (!this.labelNames.includes(name as Name)) throw new Error(`Added label "${name}" is not included in initial labelset: ${JSON.stringify(this.labelNames)}`);
    }
    const key = keyOf(this.labelNames, labels);
    let series: Series | undefined;
    let generation = -1;
    return () => {
      if (series !== undefined && generation === this.generation) return series;
      series = this.series.get(key);
      if (series === undefined) this.series.set(key, (series = this.create(labels)));
      generation = this.generation;
      return series;
    };
  }

  /** Drops every series, as prom-client's reset(). */
  reset(): void {
    this.series = new Map();
    this.generation++;
  }
}

/** A counter with prom-client's output; `labels(...)` children add without hashing. */
export class SeriesCounter<Name extends string> extends LabelledSeries<Name, CounterSeries> {
  readonly type = "counter";

  protected create(labels: Record<string, string>): CounterSeries {
    return { value: 0, labels };
  }

  /** The child of a label set, to keep and call on the hot path. */
  labels(labels: Labels<Name>): { inc(value?: number): void } {
    const resolve = this.child(labels);
    return {
      inc: (value = 1) => {
        if (!(value >= 0) || !Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${value}`);
        resolve().value += value;
      },
    };
  }

  async get() {
    return { help: this.help, name: this.name, type: this.type, values: [...this.series.values()], aggregator: this.aggregator };
  }
}

/** A histogram with prom-client's output; `labels(...)` children observe without hashing. */
export class SeriesHistogram<Name extends string> extends LabelledSeries<Name, HistogramSeries> {
  readonly type = "histogram";
  readonly upperBounds: readonly number[];

  constructor(options: SeriesOptions<Name> & { buckets: number[] }) {
    super(options);
    for (const name of options.labelNames) if (name === "le") throw new Error("le is a reserved label keyword");
    this.upperBounds = [...options.buckets];
  }

  protected create(labels: Record<string, string>): HistogramSeries {
    return { labels, buckets: this.upperBounds.map(() => 0), sum: 0, count: 0 };
  }

  /** The child of a label set, to keep and call on the hot path. */
  labels(labels: Labels<Name>): { observe(value: number): void } {
    const resolve = this.child(labels);
    const bounds = this.upperBounds;
    return {
      observe: (value) => {
        if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${value}`);
        const series = resolve();
        series.sum += value;
        series.count += 1;
        // Above the last bound only +Inf (the count) holds it, as in prom-client.
        for (let index = 0; index < bounds.length; index++) {
          if (value <= bounds[index]!) {
            series.buckets[index]! += 1;
            break;
          }
        }
      },
    };
  }

  /** What prom-client's Histogram#getForPromString gives: cumulative buckets, +Inf, _sum, _count per series. */
  async getForPromString() {
    const bucketName = `${this.name}_bucket`;
    const values: { labels: Record<string, string | number>; sharedLabels: Record<string, string>; value: number; metricName: string; exemplar: null | undefined }[] = [];
    for (const series of this.series.values()) {
      let cumulative = 0;
      this.upperBounds.forEach((bound, index) => {
        cumulative += series.buckets[index]!;
        values.push({ labels: { le: bound }, sharedLabels: series.labels, value: cumulative, metricName: bucketName, exemplar: null });
      });
      values.push(
        { labels: { le: "+Inf" }, sharedLabels: series.labels, value: series.count, metricName: bucketName, exemplar: null },
        { labels: {}, sharedLabels: series.labels, value: series.sum, metricName: `${this.name}_sum`, exemplar: undefined },
        { labels: {}, sharedLabels: series.labels, value: series.count, metricName: `${this.name}_count`, exemplar: undefined },
      );
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  /** What prom-client's Histogram#get gives (the JSON form): the series' labels merged into each value's. */
  async get() {
    const data = await this.getForPromString();
    return {
      ...data,
      values: data.values.map(({ sharedLabels, labels, ...value }) => ({ ...value, labels: { ...labels, ...sharedLabels } })),
    };
  }
}
