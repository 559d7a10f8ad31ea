//! The confirmation dialog and the dispatch wizard. Both name the target
//! and the count, start with the button that changes nothing focused, and
//! take their key hints from the keymap.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};

use super::{centered, field_window, fit, panel};
use crate::tui::action::{AdminCommand, short_id};
use crate::tui::keymap::Context;
use crate::tui::model::{Asset, JOB_TYPES, JobType};
use crate::tui::state::{App, Choice, Confirmation, Wizard, WizardStep, address_problem};
use crate::tui::theme::Theme;

/// How alarming a command is: the confirmation's colour (its words say the
/// same without colour).
fn severity(command: &AdminCommand, theme: &Theme) -> Style {
    match command {
        AdminCommand::ClearFailed { .. }
        | AdminCommand::ResetProcessing { .. }
        | AdminCommand::CancelJob { .. } => theme.error(),
        AdminCommand::PauseWorkers { .. } => theme.warning(),
        _ => theme.title(),
    }
}

fn buttons<'a>(focus: Choice, (keep, act): (&'a str, &'a str), theme: &Theme) -> Line<'a> {
    let button = |label: &'a str, focused: bool| {
        if focused {
            Span::styled(format!("{}[ {label} ]", theme.cursor()), theme.selected())
        } else {
            Span::raw(format!(" [ {label} ]"))
        }
    };
    Line::from(vec![
        button(keep, focus == Choice::Cancel),
        Span::raw("   "),
        button(act, focus == Choice::Confirm),
    ])
}

/// The key hints of a modal context, from the keymap, as wrapped lines.
fn hints(app: &App, context: Context) -> Line<'static> {
    let text = app
        .keymap
        .bindings(&[context], false)
        .map(|b| format!("{}: {}", b.keys_text(), b.help))
        .collect::<Vec<_>>()
        .join(app.theme.dot());
    Line::styled(text, app.theme.dim())
}

/// Rows a line takes when wrapped to `width`.
fn rows(line: &Line, width: u16) -> u16 {
    (line.width().max(1)).div_ceil(usize::from(width.max(1))) as u16
}

/// A confirmation's box, its lines, and where its two buttons are.
pub struct ConfirmLayout {
    pub rect: Rect,
    pub lines: Vec<Line<'static>>,
    /// Cancel, then Confirm.
    pub buttons: [Rect; 2],
}

pub fn confirm_layout(app: &App, body: Rect, c: &Confirmation) -> ConfirmLayout {
    let theme = &app.theme;
    let mut lines = vec![
        Line::styled(c.command.title(app.id_len), severity(&c.command, theme)),
        Line::raw(""),
    ];
    lines.extend(c.command.consequences().into_iter().map(Line::raw));
    lines.push(Line::raw(""));
    let buttons_at = lines.len();
    lines.push(buttons(c.focus, c.command.buttons(), theme));
    lines.push(Line::raw(""));
    lines.push(hints(app, Context::Confirm));
    let width = 70.min(body.width);
    let height = lines.iter().map(|l| rows(l, width - 2)).sum::<u16>() + 2;
    let rect = centered(body, width, height);
    let y = rect.y
        + 1
        + lines[..buttons_at]
            .iter()
            .map(|l| rows(l, width - 2))
            .sum::<u16>();
    // The buttons' spans: first button, gap, second button; the wrap trims
    // the line's leading space.
    let spans = &lines[buttons_at].spans;
    let first = Span::raw(spans[0].content.trim_start()).width() as u16;
    let (gap, second) = (spans[1].width() as u16, spans[2].width() as u16);
    let x = rect.x + 1;
    let buttons = [
        Rect::new(x, y, first, 1),
        Rect::new(x + first + gap, y, second, 1),
    ];
    ConfirmLayout {
        rect,
        lines,
        buttons,
    }
}

pub fn confirm(frame: &mut Frame, body: Rect, app: &App, c: &Confirmation) {
    let theme = &app.theme;
    let ConfirmLayout { rect, lines, .. } = confirm_layout(app, body, c);
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: true })
            .block(panel("Confirm", theme).border_style(severity(&c.command, theme))),
        rect,
    );
}

pub fn wizard(frame: &mut Frame, body: Rect, app: &App, w: &Wizard) {
    let theme = &app.theme;
    let steps = [
        (WizardStep::JobType, "1 Type"),
        (WizardStep::Wallet, "2 Wallet"),
        (WizardStep::Review, "3 Review"),
    ];
    let arrow = if theme.ascii { " > " } else { " › " };
    let mut header: Vec<Span> = Vec::new();
    for (i, (step, label)) in steps.iter().enumerate() {
        if i > 0 {
            header.push(Span::styled(arrow, theme.dim()));
        }
        let current = *step == w.step
            || (*step == WizardStep::Review
                && matches!(w.step, WizardStep::Sending | WizardStep::Done));
        header.push(if current {
            Span::styled(*label, theme.selected())
        } else {
            Span::styled(*label, theme.dim())
        });
    }
    let mut lines = vec![Line::from(header), Line::raw("")];
    match w.step {
        WizardStep::JobType => job_type_step(&mut lines, w, theme),
        WizardStep::Wallet => wallet_step(&mut lines, w, theme),
        WizardStep::Review => review_step(&mut lines, w, theme),
        WizardStep::Sending => {
            review_step(&mut lines, w, theme);
            lines.pop();
            lines.push(Line::styled(
                format!("Dispatching{}", theme.ellipsis()),
                theme.warning(),
            ));
        }
        WizardStep::Done => match &w.result {
            Some(Ok(message)) => {
                lines.push(Line::styled("Dispatched", theme.good()));
                lines.push(Line::raw(message.clone()));
            }
            Some(Err(reason)) => {
                lines.push(Line::styled("Not dispatched", theme.error()));
                lines.push(Line::raw(reason.clone()));
            }
            None => {}
        },
    }
    lines.push(Line::raw(""));
    lines.push(hints(app, Context::Wizard));
    let width = 76.min(body.width);
    let height = lines.iter().map(|l| rows(l, width - 2)).sum::<u16>() + 2;
    let rect = centered(body, width, height);
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(panel("Dispatch a job", theme)),
        rect,
    );
}

fn job_type_step(lines: &mut Vec<Line>, w: &Wizard, theme: &Theme) {
    lines.push(Line::raw("Which job?"));
    for (i, t) in JOB_TYPES.iter().enumerate() {
        let selected = i == w.type_index;
        let marker = if selected { theme.cursor() } else { " " };
        let style = if selected {
            theme.selected()
        } else {
            Style::new()
        };
        lines.push(Line::from(vec![
            Span::styled(format!("{marker} {:<14}", t.as_str()), style),
            Span::styled(format!(" {}", describe(*t)), theme.dim()),
        ]));
    }
}

/// What the job does, for the wizard.
fn describe(job_type: JobType) -> &'static str {
    match job_type {
        JobType::Consolidation => "move the wallet's USDT and spare TRX to the treasury",
        JobType::GasTopup => "send TRX from the gas wallet to pay this wallet's fees",
        JobType::Sync => "read balances and transactions from the chain",
    }
}

/// Columns the wallet search field may use inside the wizard's box.
const FIELD_WIDTH: usize = 70;

fn wallet_step(lines: &mut Vec<Line>, w: &Wizard, theme: &Theme) {
    let width = FIELD_WIDTH;
    lines.push(Line::raw(format!(
        "{}: search wallets by address, user email or name",
        w.job_type().as_str()
    )));
    lines.push(Line::from(vec![
        Span::styled("> ", theme.title()),
        Span::styled(field_window(&w.input, width, theme), theme.selected()),
    ]));
    let query = w.input.value().trim();
    if let Some(problem) = address_problem(query) {
        lines.push(Line::styled(problem, theme.error()));
    }
    if let Some(err) = &w.search_error {
        lines.push(Line::styled(format!("search failed: {err}"), theme.error()));
    }
    if query.chars().count() < 2 {
        lines.push(Line::styled("type at least 2 characters", theme.dim()));
    } else if w.searching.is_some() && w.hits.is_empty() {
        lines.push(Line::styled(
            format!("searching{}", theme.ellipsis()),
            theme.dim(),
        ));
    } else if w.hits.is_empty() && w.search_error.is_none() {
        lines.push(Line::styled(
            format!("no wallet in custody matches {query:?}"),
            theme.warning(),
        ));
    }
    for (i, hit) in w.hits.iter().enumerate().take(8) {
        let selected = i == w.hit_index;
        let marker = if selected { theme.cursor() } else { " " };
        let style = if selected {
            theme.selected()
        } else {
            Style::new()
        };
        let owner = hit
            .user_email
            .as_deref()
            .or(hit.user_name.as_deref())
            .unwrap_or("-");
        lines.push(Line::styled(
            format!(
                "{marker} {} {:<8} {}",
                hit.address,
                hit.role,
                fit(owner, 26, theme)
            ),
            style,
        ));
    }
    if w.hits.len() > 8 {
        lines.push(Line::styled(
            format!("{} more: type more to narrow", w.hits.len() - 8),
            theme.dim(),
        ));
    }
}

fn review_step(lines: &mut Vec<Line>, w: &Wizard, theme: &Theme) {
    let Some(hit) = w.picked() else {
        return;
    };
    let owner = match (&hit.user_email, &hit.user_name) {
        (Some(email), Some(name)) => format!("{name} <{email}>"),
        (Some(one), None) | (None, Some(one)) => one.clone(),
        (None, None) => "-".into(),
    };
    lines.push(Line::raw(format!("job      {}", w.job_type().as_str())));
    lines.push(Line::raw(format!("wallet   {}", hit.address)));
    lines.push(Line::raw(format!("owner    {owner}  ({})", hit.role)));
    lines.push(Line::raw(format!(
        "balances {}   {}",
        Asset::Trx.format(hit.trx_balance_sun),
        Asset::Usdt.format(hit.usdt_balance)
    )));
    lines.push(Line::raw(""));
    match w.duplicate() {
        Some(job) => {
            lines.push(Line::styled(
                format!(
                    "A {} job for this wallet is already queued (job {}).",
                    w.job_type().as_str(),
                    short_id(&job)
                ),
                theme.warning(),
            ));
            lines.push(Line::raw(
                "Dispatching returns that job; no second one is created.",
            ));
        }
        None => lines.push(Line::raw(format!(
            "1 {} job will be queued for this wallet.",
            w.job_type().as_str()
        ))),
    }
    lines.push(Line::raw(""));
    lines.push(buttons(w.focus, ("Back", "Dispatch"), theme));
}
