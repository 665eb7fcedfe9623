#include "stack/counters.hpp"

namespace flowgate {
namespace {

constexpr std::string_view kDropNames[] = {
#define FLOWGATE_NAME_ENTRY(name, help) #name,
    FLOWGATE_DROP_REASONS(FLOWGATE_NAME_ENTRY)
#undef FLOWGATE_NAME_ENTRY
};
constexpr std::string_view kDropHelp[] = {
#define FLOWGATE_HELP_ENTRY(name, help) help,
    FLOWGATE_DROP_REASONS(FLOWGATE_HELP_ENTRY)
#undef FLOWGATE_HELP_ENTRY
};
constexpr std::string_view kEventNames[] = {
#define FLOWGATE_NAME_ENTRY(name, help) #name,
    FLOWGATE_EVENT_COUNTERS(FLOWGATE_NAME_ENTRY)
#undef FLOWGATE_NAME_ENTRY
};
constexpr std::string_view kEventHelp[] = {
#define FLOWGATE_HELP_ENTRY(name, help) help,
    FLOWGATE_EVENT_COUNTERS(FLOWGATE_HELP_ENTRY)
#undef FLOWGATE_HELP_ENTRY
};
constexpr std::string_view kGaugeNames[] = {
#define FLOWGATE_NAME_ENTRY(name, help) #name,
    FLOWGATE_STACK_GAUGES(FLOWGATE_NAME_ENTRY)
#undef FLOWGATE_NAME_ENTRY
};
constexpr std::string_view kGaugeHelp[] = {
#define FLOWGATE_HELP_ENTRY(name, help) help,
    FLOWGATE_STACK_GAUGES(FLOWGATE_HELP_ENTRY)
#undef FLOWGATE_HELP_ENTRY
};
static_assert(std::size(kDropNames) == kDropReasonCount);
static_assert(std::size(kGaugeNames) == kGaugeCount);
static_assert(std::size(kEventNames) == kEventCount);

}  // namespace

std::string_view name(DropReason r) {
  return kDropNames[static_cast<size_t>(r)];
}
std::string_view help(DropReason r) {
  return kDropHelp[static_cast<size_t>(r)];
}
std::string_view name(Event e) {
  return kEventNames[static_cast<size_t>(e)];
}
std::string_view help(Event e) {
  return kEventHelp[static_cast<size_t>(e)];
}
std::string_view name(StackGauge g) {
  return kGaugeNames[static_cast<size_t>(g)];
}
std::string_view help(StackGauge g) {
  return kGaugeHelp[static_cast<size_t>(g)];
}

}  // namespace flowgate
