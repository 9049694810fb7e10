//! TEMPORARY interface placeholder: replaced by the charts branch on merge (same API).
use crate::analysis::OrgAudit;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChartKind {
    BudgetTimeline,
    ConsumerShares,
    ConsumerTimelines,
    LoadHeatmap,
    ConsumerRefusals,
    RetryDelays,
}

impl ChartKind {
    pub const ALL: [ChartKind; 6] = [
        ChartKind::BudgetTimeline,
        ChartKind::ConsumerShares,
        ChartKind::ConsumerTimelines,
        ChartKind::LoadHeatmap,
        ChartKind::ConsumerRefusals,
        ChartKind::RetryDelays,
    ];
    pub fn file_stem(self) -> &'static str {
        match self {
            ChartKind::BudgetTimeline => "budget-timeline",
            ChartKind::ConsumerShares => "consumer-shares",
            ChartKind::ConsumerTimelines => "consumer-timelines",
            ChartKind::LoadHeatmap => "load-heatmap",
            ChartKind::ConsumerRefusals => "consumer-refusals",
            ChartKind::RetryDelays => "retry-delays",
        }
    }
    pub fn title(self) -> &'static str {
        self.file_stem()
    }
    pub fn description(self) -> &'static str {
        self.file_stem()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChartFormat {
    Png,
    Svg,
}

impl ChartFormat {
    pub fn extension(self) -> &'static str {
        match self {
            ChartFormat::Png => "png",
            ChartFormat::Svg => "svg",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    #[error("chart")]
    Drawing,
}

pub fn render_chart(
    _audit: &OrgAudit,
    _kind: ChartKind,
    _format: ChartFormat,
) -> Result<Option<Vec<u8>>, ChartError> {
    Ok(None)
}
