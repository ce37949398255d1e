/** Small time-series charts, drawn by uPlot (served by the agent from its own files). */

/** The status history's window (agent/health/status-history.ts): the charts show the last 20 minutes. */
export const HISTORY_WINDOW_S = 20 * 60;

export interface SeriesSpec {
  label: string;
  stroke: string;
  /** The y scale the series is drawn on: `left` (default) or `right`. */
  side?: 'left' | 'right';
}

export interface ChartSpec {
  series: SeriesSpec[];
  left: string;
  right?: string;
  height?: number;
  /** The x axis always spans this many seconds up to the newest point (the history's window). */
  windowS?: number;
}

/** A chart that follows its container's width and takes its columns whole on each update. */
export class Chart {
  private plot: uPlot | undefined;
  private readonly observer: ResizeObserver;

  constructor(
    private readonly container: HTMLElement,
    private readonly spec: ChartSpec,
  ) {
    this.observer = new ResizeObserver(() => this.resize());
    this.observer.observe(container);
  }

  /** `t` in epoch ms, one column per series, nulls for gaps. */
  update(t: number[], columns: (number | null)[][]): void {
    const data = [t.map((v) => v / 1000), ...columns] as uPlot.AlignedData;
    if (!this.plot) {
      if (typeof uPlot === 'undefined') return; // the chart library did not load: figures still show
      this.plot = new uPlot(this.options(), data, this.container);
    } else {
      this.plot.setData(data);
    }
  }

  private options(): uPlot.Options {
    const { spec } = this;
    const axes: uPlot.Axis[] = [
      { stroke: '#888', grid: { stroke: '#8882' }, ticks: { stroke: '#8882' } },
      {
        scale: 'left',
        label: spec.left,
        stroke: '#888',
        grid: { stroke: '#8882' },
        ticks: { stroke: '#8882' },
      },
    ];
    if (spec.right)
      axes.push({ scale: 'right', label: spec.right, side: 1, stroke: '#888', grid: { show: false } });
    return {
      width: this.width(),
      height: spec.height ?? 140,
      // labels only: values under the cursor would reflow a tile on every mouse move
      legend: { show: true, live: false },
      cursor: { drag: { x: false, y: false } },
      scales: {
        // a fixed window: a chart with one point (just after start) shows that point at its right end, not
        // a year-wide axis around it
        x: {
          time: true,
          range: (_u, min, max) =>
            spec.windowS ? [max - spec.windowS, max] : min === max ? [min - 600, max + 60] : [min, max],
        },
        left: { auto: true },
        right: { auto: true },
      },
      axes,
      series: [
        {},
        ...spec.series.map((s) => ({
          label: s.label,
          stroke: s.stroke,
          width: 1.5,
          scale: s.side === 'right' ? 'right' : 'left',
          spanGaps: false,
          points: { show: false },
        })),
      ],
    };
  }

  private width(): number {
    return Math.max(200, this.container.clientWidth || 300);
  }

  private resize(): void {
    this.plot?.setSize({ width: this.width(), height: this.spec.height ?? 140 });
  }
}
